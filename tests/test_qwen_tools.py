"""Tool calling on a second model family: Qwen2.5-Coder-0.5B-Instruct, whose GGUF template renders
tools natively (Hermes style: `<tool_call>` calls, `<tool_response>` results in a user turn).

Calls are offered and decoded in the template's own format, results go back through its tool
role as data, and no call or template markup ever reaches a reply's text or its stream."""

from __future__ import annotations

import json

import jsonschema
import pytest

from airlock.engine.core.offering import CODE_INTERPRETER  # the built-in, as the engine offers it
from airlock.models.backend import TurnRequest
from airlock.models.call_formats import HERMES
from tests.qwen import (
    FILE_SEARCH,
    MARKUP,
    SYSTEM,
    WEATHER,
    qwen_backend,
    rounds,
    run_python,
)

pytestmark = pytest.mark.slow

FIB = "Compute the 20th Fibonacci number (fib(1)=fib(2)=1) and print it."


@pytest.fixture(scope="module")
def qwen():
    b = qwen_backend()
    yield b
    b.close()


def generate(backend, messages, tools, choice, max_tokens=200, **kw):
    pieces: list[str] = []
    request = TurnRequest(messages=messages, max_tokens=max_tokens, temperature=0.0, tools=tools,
                          tool_choice=choice, **kw)
    result = backend.generate(request, pieces.append, lambda: False)
    assert "".join(pieces) == result.text  # the stream adds up to the text
    return result, pieces


def assert_no_markup(text: str) -> None:
    for marker in MARKUP:
        assert marker not in text, (marker, text)


def test_the_template_is_detected_as_hermes(qwen):
    assert qwen.call_format is HERMES and qwen.native_tools
    prompt = qwen.render([SYSTEM, {"role": "user", "content": "Hi"}], [WEATHER], "auto")
    assert "# Tools" in prompt and '"name": "get_weather"' in prompt  # the template's own section
    assert "You can call these functions" not in prompt  # not the generic one


def test_results_render_in_the_tool_role_as_data(qwen):
    thread = rounds("What's the weather in Oslo?", "get_weather", {"city": "Oslo"}, "Snow, -3 C")
    for choice in ("auto", "none"):
        prompt = qwen.render(thread, [WEATHER], choice)
        assert ('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": '
                '{"city": "Oslo"}}\n</tool_call><|im_end|>') in prompt
        assert "<|im_start|>user\n<tool_response>\nSnow, -3 C\n</tool_response><|im_end|>" in prompt
        assert '{"name": "get_weather", "content"' not in prompt  # the output alone, no wrapper
    # With no tool callable, none is rendered; the earlier round still is, as data.
    assert "# Tools" in qwen.render(thread, [WEATHER], "auto")
    assert "# Tools" not in qwen.render(thread, [WEATHER], "none")


def test_forced_call_parses_and_validates(qwen):
    msgs = [SYSTEM, {"role": "user", "content": "What's the weather in Oslo?"}]
    result, pieces = generate(qwen, msgs, [WEATHER], {"name": "get_weather"},
                              parallel_tool_calls=False)
    (call,) = result.tool_calls
    assert call["name"] == "get_weather"
    args = json.loads(call["arguments"])
    jsonschema.validate(args, WEATHER["parameters"])
    assert args["city"] == "Oslo"
    assert result.text == "" and pieces == []
    assert result.prompt_tokens == qwen.count_tokens(msgs, [WEATHER], {"name": "get_weather"})


def test_auto_calls_for_a_weather_question(qwen):
    msgs = [SYSTEM, {"role": "user", "content": "What's the weather in Paris right now?"}]
    result, pieces = generate(qwen, msgs, [WEATHER], "auto")
    assert [c["name"] for c in result.tool_calls] == ["get_weather"], result.text
    assert json.loads(result.tool_calls[0]["arguments"])["city"] == "Paris"
    assert pieces == []


def test_auto_answers_a_greeting_without_markup(qwen):
    msgs = [SYSTEM, {"role": "user", "content": "Write a haiku about autumn."}]
    result, _ = generate(qwen, msgs, [WEATHER], "auto", max_tokens=60)
    assert result.tool_calls == [] and result.text.strip()
    assert_no_markup(result.text)


def test_choice_none_after_a_result_answers_in_plain_text(qwen):
    thread = rounds("What's the weather in Oslo?", "get_weather", {"city": "Oslo"},
                    "Snow, -3 C, wind 20 km/h")
    result, pieces = generate(qwen, thread, [WEATHER], "none", max_tokens=80)
    assert result.tool_calls == [] and result.text.strip()
    assert_no_markup(result.text)
    assert_no_markup("".join(pieces))
    assert "snow" in result.text.lower() or "-3" in result.text


def test_file_search_sources_are_answered_not_parroted(qwen):
    """The issue's file_search flow: the search is used up (tool_choice none), the sources come
    back as data; the answer is text, never a `{"name": "file_search", ...}` object."""
    sources = ("【0:0†policy.md】 Employees may work remotely up to three days a week. "
               "Requests go to the team lead.")
    thread = rounds("How many days a week can I work from home?", "file_search",
                    {"query": "remote work days"}, sources)
    result, _ = generate(qwen, thread, [FILE_SEARCH], "none", max_tokens=80)
    assert result.tool_calls == [] and result.text.strip()
    assert_no_markup(result.text)
    assert "three" in result.text.lower() or "3" in result.text


def test_forced_code_call_computes_fibonacci(qwen):
    msgs = [SYSTEM, {"role": "user", "content": FIB}]
    result, _ = generate(qwen, msgs, [CODE_INTERPRETER], {"name": "code_interpreter"},
                         max_tokens=600, parallel_tool_calls=False)
    (call,) = result.tool_calls
    code = json.loads(call["arguments"])["code"]
    assert "6765" in run_python(code), code


def test_auto_calls_the_code_tool_for_a_computation(qwen):
    msgs = [SYSTEM, {"role": "user", "content": FIB}]
    result, _ = generate(qwen, msgs, [CODE_INTERPRETER], "auto", max_tokens=600,
                         parallel_tool_calls=False)
    assert [c["name"] for c in result.tool_calls] == ["code_interpreter"], result.text


def test_a_python_block_becomes_a_code_call(qwen):
    """Asked to compute "with code", the model opens a ```python block instead of calling: while
    code_interpreter may be called, the block is its call, and the program runs."""
    msgs = [{"role": "system", "content": "You are a helpful assistant. Use code to compute."},
            {"role": "user", "content": "Compute the 20th Fibonacci number (fib(1)=fib(2)=1) "
                                        "with code."}]
    result, pieces = generate(qwen, msgs, [CODE_INTERPRETER], "auto", max_tokens=600)
    assert [c["name"] for c in result.tool_calls] == ["code_interpreter"], result.text
    assert "```" not in result.text and "".join(pieces) == result.text
    assert "6765" in run_python(json.loads(result.tool_calls[0]["arguments"])["code"])
