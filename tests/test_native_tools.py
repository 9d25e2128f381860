"""A GGUF whose chat template renders `tools` gets tools and tool rounds through that template, and
its calls are decoded in that template's format (Hermes-style `<tool_call>`, Llama-3.x-style bare
JSON with "parameters"): both templates here run on the embedded SmolLM2."""

from __future__ import annotations

import json

import jsonschema
import pytest

from airlock.models.backend import TurnRequest
from airlock.models.call_formats import HERMES, LLAMA3
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


def test_the_hermes_style_template_decodes_hermes_calls(backend):
    assert backend.call_format is HERMES


# -- a Llama-3.1-style template: bare JSON calls with "parameters", results as ipython turns ----

LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{%- if tools %}{{- 'Environment: ipython\\n\\n' }}{%- endif %}"
    "{{- system_message }}"
    "{%- if tools %}{{- '\\n\\nYou have access to the following functions. To call a function, "
    "respond with JSON in the format {\"name\": function name, \"parameters\": dictionary of "
    "argument name and its value}.\\n\\n' }}"
    "{%- for t in tools %}{{- t | tojson(indent=4) }}{{- '\\n\\n' }}{%- endfor %}{%- endif %}"
    "{{- '<|eot_id|>' }}"
    "{%- for m in messages %}"
    "{%- if m.role == 'tool' or m.role == 'ipython' %}"
    "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' + m.content + '<|eot_id|>' }}"
    "{%- elif m.tool_calls %}"
    "{%- if m.tool_calls | length != 1 %}"
    "{{- raise_exception('This model only supports single tool-calls at once!') }}{%- endif %}"
    "{%- set call = m.tool_calls[0].function %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n{\"name\": \"' + call.name + "
    "'\", \"parameters\": ' + call.arguments | tojson + '}<|eot_id|>' }}"
    "{%- else %}"
    "{{- '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content + '<|eot_id|>' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)
PARALLEL_ROUND = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Weather in Oslo and Rome?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"id": "call_2", "name": "get_weather", "arguments": '{"city": "Rome"}'}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "snow"},
    {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": "sun"},
]
NO_MARKUP = ("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>",
             '{"name"', "<tool_call>", "<tool_response>", "<|im_end|>", "<|im_start|>")


@pytest.fixture(scope="module")
def llama3():
    b = LlamaBackend("llama3-style", embedded_gguf(), n_ctx=2048, chat_template=LLAMA3_TEMPLATE)
    yield b
    b.close()


def test_llama3_style_template_is_detected(llama3):
    assert llama3.call_format is LLAMA3 and llama3.native_tools


def test_llama3_rounds_render_one_call_per_message_with_ipython_results(llama3):
    text = llama3.render(PARALLEL_ROUND, [WEATHER], "auto")
    assert "You can call these functions" not in text  # the template's tools, not the generic ones
    assert "Environment: ipython" in text and '"name": "get_weather"' in text
    for city, output in (("Oslo", "snow"), ("Rome", "sun")):
        assert ('<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", '
                f'"parameters": {{"city": "{city}"}}}}<|eot_id|>'
                f"<|start_header_id|>ipython<|end_header_id|>\n\n{output}<|eot_id|>") in text
    # No tool may be called: none is rendered, the earlier round still is.
    text = llama3.render(PARALLEL_ROUND, [WEATHER], "none")
    assert "Environment: ipython" not in text and "ipython<|end_header_id|>\n\nsun" in text


def test_llama3_forced_call_is_written_with_parameters(llama3):
    request = TurnRequest(messages=[{"role": "user", "content": "Weather in Oslo?"}],
                          max_tokens=200, temperature=0.0, tools=[WEATHER],
                          tool_choice={"name": "get_weather"})
    result = llama3.generate(request, lambda _: None, lambda: False)
    (call,) = result.tool_calls  # one call per message in this format, even with parallel calls
    assert call["name"] == "get_weather"
    jsonschema.validate(json.loads(call["arguments"]), WEATHER["parameters"])
    assert result.prompt_tokens == llama3.count_tokens(request.messages, [WEATHER],
                                                       request.tool_choice)


@pytest.mark.parametrize("choice", ["none", "auto"])
def test_llama3_replies_after_rounds_carry_no_markup(llama3, choice):
    pieces: list[str] = []
    request = TurnRequest(messages=PARALLEL_ROUND, max_tokens=60, temperature=0.0,
                          tools=[WEATHER], tool_choice=choice)
    result = llama3.generate(request, pieces.append, lambda: False)
    assert "".join(pieces) == result.text
    for marker in NO_MARKUP:
        assert marker not in result.text
    for call in result.tool_calls:
        jsonschema.validate(json.loads(call["arguments"]), WEATHER["parameters"])
