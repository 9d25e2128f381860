"""LlamaBackend on the real embedded GGUF (SmolLM2-135M-Instruct): streaming, limits,
cancellation, grammar-constrained JSON, and KV-cache reuse across turns and threads."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from airlock.models.backend import TurnRequest
from airlock.models.json_grammar import integer_range_gbnf, json_object_gbnf, json_schema_gbnf
from airlock.models.llama import ContextOverflow, LlamaBackend, _find_stop, _stop_prefix_len
from airlock.models.registry import embedded_gguf

# Real-model runs: left out of the second (SDK-compatibility) pass, which never touches them.
pytestmark = pytest.mark.slow

STRICT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant') }}"
    "{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def backend():
    b = LlamaBackend("smollm2-135m-instruct", embedded_gguf())
    yield b
    b.close()


@pytest.fixture(scope="module")
def strict_backend():
    b = LlamaBackend("strict", embedded_gguf(), n_ctx=1024, chat_template=STRICT_TEMPLATE)
    yield b
    b.close()


def user(text: str, system: str | None = None) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": text}]


def run(backend, messages, **kw):
    pieces: list[str] = []
    stop = kw.pop("should_stop", lambda: False)
    request = TurnRequest(messages=messages, **{"max_tokens": 64, "temperature": 0.7, **kw})
    result = backend.generate(request, pieces.append, stop)
    return result, pieces


# -- streaming and limits ---------------------------------------------------------------------


def test_short_generation_streams_the_reply(backend):
    msgs = user("Name three colors.")
    result, pieces = run(backend, msgs, max_tokens=48)
    assert result.text.strip()
    assert "".join(pieces) == result.text
    assert all(isinstance(p, str) and p for p in pieces)
    assert result.prompt_tokens == backend.count_tokens(msgs) > 10
    assert 0 < result.completion_tokens <= 48
    assert result.finish_reason in ("stop", "length")
    assert "<|im_end|>" not in result.text and "<|im_start|>" not in result.text


def test_prompt_uses_the_gguf_chat_template(backend):
    prompt = backend.render(user("Hi", system="Be brief."))
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    # Without a system message, SmolLM2's template adds its own.
    assert backend.render(user("Hi")).startswith("<|im_start|>system\nYou are a helpful AI")


def test_max_tokens_ends_with_length(backend):
    result, pieces = run(backend, user("Tell me a long story about a dragon."), max_tokens=5)
    assert result.finish_reason == "length"
    assert result.completion_tokens == 5
    assert "".join(pieces) == result.text


def test_greedy_is_deterministic(backend):
    a, _ = run(backend, user("What is the capital of France?"), temperature=0.0, max_tokens=16)
    run(backend, user("Something else entirely, please."), temperature=0.0, max_tokens=8)
    b, _ = run(backend, user("What is the capital of France?"), temperature=0.0, max_tokens=16)
    assert a.text == b.text


def test_should_stop_cancels_within_a_token(backend):
    pieces: list[str] = []
    polls_after_stop = []

    def should_stop() -> bool:
        if len(pieces) >= 3:
            polls_after_stop.append(len(pieces))
            return True
        return False

    result = backend.generate(
        TurnRequest(messages=user("Write a long essay about the ocean."), max_tokens=400),
        pieces.append,
        should_stop,
    )
    assert result.finish_reason == "cancelled"
    assert len(pieces) == 3 and polls_after_stop == [3]  # stopped at the first poll
    assert result.completion_tokens <= 4  # of 400 allowed
    assert result.text == "".join(pieces)


def test_a_call_cancelled_while_its_arguments_are_written_ends_cancelled(backend):
    # The run's deadline passes while a forced call's arguments are decoded: no half-written
    # call and no error, the turn ends cancelled.
    tool = {"name": "weather", "description": "Weather in a city.", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    polls = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) > 2

    result = backend.generate(
        TurnRequest(messages=user("Weather in Oslo?"), max_tokens=64, tools=[tool],
                    tool_choice={"name": "weather"}), lambda _t: None, should_stop)
    assert result.finish_reason == "cancelled" and not result.tool_calls


def test_cancelled_before_the_first_token(backend):
    pieces: list[str] = []
    result = backend.generate(
        TurnRequest(messages=user("Hello there, " * 300), max_tokens=50), pieces.append, lambda: True
    )
    assert result.finish_reason == "cancelled"
    assert result.completion_tokens == 0 and result.text == "" and pieces == []
    assert result.prompt_tokens > 900


def test_prompt_longer_than_the_context_is_refused(backend):
    with pytest.raises(ContextOverflow):
        backend.generate(
            TurnRequest(messages=user("word " * 5000), max_tokens=10), lambda s: None, lambda: False
        )


def test_strict_template_gets_merged_roles(strict_backend):
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question."},
        {"role": "user", "content": "Second question."},
    ]
    prompt = strict_backend.render(msgs)
    assert prompt == (
        "<|im_start|>user\nBe brief.\n\nFirst question.\n\nSecond question.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert strict_backend.n_ctx == 1024
    result, pieces = run(strict_backend, msgs, max_tokens=8)
    assert result.prompt_tokens == strict_backend.count_tokens(msgs)
    assert "".join(pieces) == result.text


# -- structured output ------------------------------------------------------------------------


def test_json_object_output_parses(backend):
    result, pieces = run(
        backend, user("Describe a cat as a JSON object."), json_object=True, max_tokens=200,
        temperature=1.0,
    )
    assert result.finish_reason == "stop"
    assert isinstance(json.loads(result.text), dict)
    assert "".join(pieces) == result.text


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_json_schema_output_validates(backend, temperature):
    result, _ = run(
        backend, user("Give me a person with a name and an age, as JSON."),
        json_schema=PERSON, max_tokens=256, temperature=temperature,
    )
    assert result.finish_reason == "stop"
    value = json.loads(result.text)
    jsonschema.validate(value, PERSON)


def test_json_schema_constraints_the_converter_ignores(backend):
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 65},
            "score": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "kind": {"enum": ["cat", "dog"]},
            "note": {"type": ["string", "null"]},
        },
        "required": ["age", "score", "tags", "kind", "note"],
        "additionalProperties": False,
    }
    for temperature in (0.0, 1.0):
        result, _ = run(
            backend, user("Make up an animal record as JSON."),
            json_schema=schema, max_tokens=300, temperature=temperature,
        )
        assert result.finish_reason == "stop", result.text
        jsonschema.validate(json.loads(result.text), schema)


def test_json_finishes_within_a_small_budget(backend):
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "body": {"type": "string"},
                       "words": {"type": "array", "items": {"type": "string"}}},
        "required": ["title", "body", "words"],
    }
    result, _ = run(
        backend, user("Write a very long article as JSON."),
        json_schema=schema, max_tokens=96, temperature=1.0,
    )
    assert result.finish_reason == "stop"
    assert result.completion_tokens <= 96
    jsonschema.validate(json.loads(result.text), schema)


def test_multibyte_text_is_never_split(backend):
    word = "日本語 🍌🍞 Ωmega ünïcödé"
    schema = {"type": "object", "properties": {"w": {"enum": [word]}}, "required": ["w"]}
    result, pieces = run(backend, user("Say it."), json_schema=schema, max_tokens=80)
    assert json.loads(result.text) == {"w": word}
    assert "".join(pieces) == result.text
    assert not any("\ufffd" in p for p in pieces)
    assert len(pieces) > 3  # streamed, not delivered at once


def test_grammars_are_bounded_by_the_budget():
    gbnf = json_schema_gbnf(PERSON, 4096)
    assert "\\x00-\\x1F" in gbnf  # no raw control characters in strings
    assert 'name ::= "\\"" char{0,256} "\\"" space' in gbnf
    assert "char{0,16}" in json_schema_gbnf(PERSON, 64) or "char{0,8}" in json_schema_gbnf(PERSON, 64)
    # Free-form values (also {"type": "object"}, the engine's fallback) nest and repeat boundedly.
    for g in (json_object_gbnf(4096), json_schema_gbnf({"type": "object"}, 4096)):
        assert not re.search(r"[)\]a-z]\s*[*+]", g), g  # no unbounded repetition
    small, large = json_object_gbnf(128), json_object_gbnf(4096)
    assert len(small) < len(large)
    with pytest.raises(ValueError):
        json_schema_gbnf({"type": "integer", "minimum": 5, "maximum": 1}, 256)


def _gbnf_regex(expr: str) -> re.Pattern:
    return re.compile(re.sub(r'"(-?\d*)"', r"\1", expr).replace(" ", ""))


@pytest.mark.parametrize(
    "lo,hi", [(0, 0), (5, 123), (-7, 7), (-123, -8), (18, 65), (0, None), (None, -3), (99, 101)]
)
def test_integer_range_grammar_is_exact(lo, hi):
    rx = _gbnf_regex(integer_range_gbnf(lo, hi))
    for n in range(-400, 400):
        expected = (lo is None or n >= lo) and (hi is None or n <= hi)
        assert bool(rx.fullmatch(str(n))) == expected, n
    assert not rx.fullmatch("-0") and not rx.fullmatch("007")


def test_stop_string_holdback_helpers():
    stops = ("<|im_end|>", "\nUser:")
    assert _find_stop("hello<|im_end|>x", stops) == 5
    assert _find_stop("a\nUser: b", stops) == 1
    assert _find_stop("plain", stops) is None
    assert _stop_prefix_len("text <|im", stops) == 4
    assert _stop_prefix_len("text\nUs", stops) == 3
    assert _stop_prefix_len("text", stops) == 0


# -- KV cache reuse ---------------------------------------------------------------------------


def _conversation(backend, system: str, question: str, follow_up: str, thread: str | None):
    first = user(question, system=system)
    r1, _ = run(backend, first, max_tokens=40, thread_id=thread)
    second = first + [{"role": "assistant", "content": r1.text},
                      {"role": "user", "content": follow_up}]
    return first, r1, second


def test_second_turn_reuses_the_evaluated_prefix(backend):
    first, r1, second = _conversation(
        backend, "You answer questions about geography.", "What is the largest ocean?",
        "And the smallest?", "thread-1",
    )
    r2, _ = run(backend, second, max_tokens=20, thread_id="thread-1")
    assert r2.prompt_tokens == backend.count_tokens(second)
    assert r2.cached_tokens >= r1.prompt_tokens  # the whole first prompt ...
    assert r2.cached_tokens >= 0.9 * (r1.prompt_tokens + r1.completion_tokens)  # ... and reply
    assert r2.cached_tokens < r2.prompt_tokens


def test_interleaved_threads_reuse_through_the_state_cache(backend):
    a1, ra1, a2 = _conversation(
        backend, "You are a pirate who talks about ships and the sea all day long.",
        "Tell me about your ship.", "What is its name?", "thread-A",
    )
    b1, rb1, b2 = _conversation(
        backend, "You are a chef. You explain recipes step by step with care.",
        "How do I bake bread?", "How long does it rise?", "thread-B",
    )
    ra2, _ = run(backend, a2, max_tokens=20, thread_id="thread-A")
    assert ra2.cached_tokens >= ra1.prompt_tokens
    rb2, _ = run(backend, b2, max_tokens=20, thread_id="thread-B")
    assert rb2.cached_tokens >= rb1.prompt_tokens
    info = backend.cache_info()
    assert 1 <= info["entries"] and info["bytes"] <= info["capacity"]


def test_interleaving_without_thread_ids(backend):
    a1, ra1, a2 = _conversation(
        backend, "You are a teacher of mathematics who loves prime numbers.",
        "What is a prime?", "Is 91 prime?", None,
    )
    b1, rb1, b2 = _conversation(
        backend, "You are a gardener who grows tomatoes and peppers in a greenhouse.",
        "When do I plant tomatoes?", "And peppers?", None,
    )
    ra2, _ = run(backend, a2, max_tokens=12)
    assert ra2.cached_tokens >= ra1.prompt_tokens


def test_cached_state_cache_is_bounded():
    b = LlamaBackend("tiny-cache", embedded_gguf(), n_ctx=1024, cache_bytes=1)
    try:
        _, r1, second = _conversation(b, "You are terse.", "Say hi.", "Again.", "x")
        run(b, user("Unrelated conversation, long enough to evict: " + "blah " * 60), thread_id="y")
        assert b.cache_info()["bytes"] <= 1
        r2, _ = run(b, second, max_tokens=4, thread_id="x")
        assert r2.cached_tokens < r1.prompt_tokens  # nothing could be kept
        assert r2.finish_reason in ("stop", "length")
    finally:
        b.close()


def test_enum_and_property_names_with_escapes(backend):
    schema = {
        "type": "object",
        "properties": {'quote"d': {"enum": ['say "hi"', "back\\slash", "Zürich"]},
                       "naïve": {"type": "boolean"}},
        "required": ['quote"d', "naïve"],
    }
    result, _ = run(backend, user("Pick one."), json_schema=schema, max_tokens=60)
    jsonschema.validate(json.loads(result.text), schema)


def test_unset_sampling_parameters_mean_openai_defaults(backend):
    result, _ = run(backend, user("Hi!"), temperature=None, top_p=None, max_tokens=4)
    assert result.completion_tokens > 0


# -- no call or template markup in replies (the generic format) -------------------------------

WEATHER = {"name": "get_weather", "description": "Get the current weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}
MARKUP = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", '{"name"',
          "<|im_start|>", "<|im_end|>")


def _call(i: int, city: str) -> dict[str, str]:
    return {"id": f"call_{i}", "name": "get_weather", "arguments": json.dumps({"city": city})}


# Before call formats, SmolLM2 answered each of these (greedy, tool_choice "none") with a
# `<tool_response>\n{"name": "get_weather", ...}\n</tool_response>` block, streamed as text.
LEAKED = {
    "parallel round": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Weather in Rome and Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [_call(1, "Rome"), _call(2, "Paris")]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "Sunny, 25 C"},
        {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": "Rain, 12 C"},
    ],
    "two rounds": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Weather in Rome, then in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [_call(1, "Rome")]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "Sunny, 25 C"},
        {"role": "assistant", "content": "", "tool_calls": [_call(2, "Paris")]},
        {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": "Rain, 12 C"},
    ],
}


@pytest.mark.parametrize("name", sorted(LEAKED))
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_no_markup_reaches_the_reply_after_tool_rounds(backend, name, temperature):
    assert backend.call_format.name == "generic"
    result, pieces = run(backend, LEAKED[name], tools=[WEATHER], tool_choice="none",
                         temperature=temperature, max_tokens=80)
    assert result.tool_calls == []
    assert "".join(pieces) == result.text and result.text.strip()
    for marker in MARKUP:
        assert marker not in result.text and not any(marker in p for p in pieces), marker


def test_tools_section_only_when_a_tool_may_be_called(backend):
    prompt = backend.render(LEAKED["parallel round"], [WEATHER], "none")
    assert "You can call these functions" not in prompt
    assert "<tool_response>" in prompt  # earlier rounds still render, as data
    assert "You can call these functions" in backend.render(LEAKED["parallel round"], [WEATHER],
                                                            "auto")
