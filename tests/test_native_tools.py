"""A GGUF whose chat template renders `tools` gets tools and tool rounds through that template."""

from __future__ import annotations

import json

import jsonschema
import pytest

from airlock.models.backend import TurnRequest
from airlock.models.llama import LlamaBackend
from airlock.models.registry import embedded_gguf

pytestmark = pytest.mark.slow

# A Hermes/Qwen-style template (tools in the system turn, tool results as their own role).
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTOOLS:{% for t in tools %}\n{{ t.function | tojson }}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'tool' %}<|im_start|>tool\n{{ m.content }}<|im_end|>\n"
    "{% elif m.tool_calls %}<|im_start|>assistant\n{% for c in m.tool_calls %}<tool_call>"
    "{{ {'name': c.function.name, 'arguments': c.function.arguments} | tojson }}</tool_call>"
    "{% endfor %}<|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


@pytest.fixture(scope="module")
def backend():
    b = LlamaBackend("hermes-style", embedded_gguf(), n_ctx=2048, chat_template=TOOL_TEMPLATE)
    yield b
    b.close()


def test_tools_render_through_the_template(backend):
    assert backend.native_tools
    rounds = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "snow"},
    ]
    text = backend.render(rounds, [WEATHER], "auto")
    assert "TOOLS:" in text and '"name": "get_weather"' in text
    assert "You can call these functions" not in text  # not the generic section
    assert '<|im_start|>tool\nsnow<|im_end|>' in text
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>' in text
    # Without tools on offer the template sees none.
    assert "TOOLS:" not in backend.render(rounds[:1], [WEATHER], "none")


def test_forced_call_on_a_native_template_validates(backend):
    request = TurnRequest(messages=[{"role": "user", "content": "Weather in Oslo?"}],
                          max_tokens=200, temperature=0.0, tools=[WEATHER],
                          tool_choice={"name": "get_weather"}, parallel_tool_calls=False)
    result = backend.generate(request, lambda _: None, lambda: False)
    (call,) = result.tool_calls
    assert call["name"] == "get_weather"
    jsonschema.validate(json.loads(call["arguments"]), WEATHER["parameters"])
    assert result.prompt_tokens == backend.count_tokens(request.messages, [WEATHER],
                                                        request.tool_choice)
