"""Call formats chosen from chat template text, and the text gate that keeps call and template
markup out of replies (no model needed)."""

from __future__ import annotations

import json

import pytest

from airlock.models.call_decoding import _complete_escapes, takes_code
from airlock.models.call_formats import (
    GENERIC,
    HERMES,
    LLAMA3,
    advance,
    detect,
    markup,
)
from airlock.models.function_prompt import native_messages
from airlock.models.text_gate import TextGate

QWEN_LIKE = (
    "{%- if tools %}<|im_start|>system\n# Tools\n<tools>{% for t in tools %}{{ t | tojson }}"
    "{% endfor %}</tools>\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args>}\n"
    "</tool_call><|im_end|>\n{%- endif %}{% for m in messages %}...{% endfor %}"
)
LLAMA31_LIKE = (
    "{{- bos_token }}{%- if not tools is defined %}{%- set tools = none %}{%- endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\n{%- if tools is not none %}Environment: "
    "ipython{%- endif %}<|eot_id|>{%- for message in messages %}{%- if message.role == 'tool' %}"
    "<|start_header_id|>ipython<|end_header_id|>\n\n{{ message.content }}<|eot_id|>{%- endif %}"
    "{%- endfor %}"
)
CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
          "{% endfor %}")
MISTRAL_LIKE = "{%- if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}"


@pytest.mark.parametrize("template,fmt", [
    (QWEN_LIKE, HERMES),
    (LLAMA31_LIKE, LLAMA3),
    (CHATML, GENERIC),  # knows no tools
    (MISTRAL_LIKE, GENERIC),  # renders tools, in a syntax we do not decode
    (None, GENERIC),
])
def test_format_from_template_text(template, fmt):
    assert detect(template) is fmt
    assert fmt.native == (fmt is not GENERIC)


def test_call_text_per_format():
    args = json.dumps({"city": "Oslo"})
    assert HERMES.call_text("get_weather", args) == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>')
    assert LLAMA3.call_text("get_weather", args) == (
        '{"name": "get_weather", "parameters": {"city": "Oslo"}}')
    assert GENERIC.call_text("f", "{}").startswith('<tool_call>\n{"name": "f", "arguments": {}}')
    assert LLAMA3.max_calls == 1 and LLAMA3.one_call_per_message


def test_markup_includes_the_templates_control_text():
    found = markup(LLAMA31_LIKE)
    assert "<|start_header_id|>" in found and "<|eot_id|>" in found and "<tool_call>" in found
    assert "<|im_end|>" in markup(CHATML)


def test_advance_follows_an_opener_across_pieces():
    rest = advance("<tool_call>", "<tool", flexible=False, started=False)
    assert rest == "_call>"
    assert advance(rest, "_call>\n{", flexible=False, started=True) == ""
    assert advance("<tool_call>", "\n<", flexible=False, started=False) == "tool_call>"
    assert advance("<tool_call>", "Sure", flexible=False, started=False) is None
    # JSON openers allow whitespace inside.
    assert advance('{"name"', "{\n  ", flexible=True, started=False) == '"name"'
    assert advance('{"name"', '{"city', flexible=True, started=False) is None


def feed_all(gate: TextGate, pieces: list[str]) -> str:
    shown = "".join(gate.feed(p) for p in pieces)
    return shown + gate.finish()


STOPS = ("<|im_end|>", *markup(CHATML))


def gate(json_openers: bool = True) -> TextGate:
    return TextGate(STOPS, ("<tool_call>", "<|python_tag|>"), json_openers=json_openers)


def test_plain_text_passes_and_partial_markers_are_held():
    g = gate()
    assert g.feed("Hello <") == "Hello "  # "<" may begin a marker
    assert g.feed("b>") == "<b>"
    assert g.feed(" a < b, c <") == " a < b, c "
    assert g.finish() == "<"  # too short to be taken for markup
    assert g.shown == "Hello <b> a < b, c <" and g.hit is None


def test_a_call_opener_mid_text_is_a_call_hit():
    g = gate()
    shown = feed_all(g, ["Let me check.", " <tool", "_call>", '\n{"name": "x"'])
    assert shown == "Let me check. " and g.shown == shown
    assert g.hit is not None and g.hit.kind == "call" and not g.hit.at_start


@pytest.mark.parametrize("pieces", [
    ['{"', 'name', '": "get_weather", "arguments": {}}'],
    ["\n", "{\n", '  "name": "f"'],
    ["```", "json", "\n", "{", '"name": "f"}'],
    ["{'", "name", "': 'code_interpreter', \"arguments\": {}}"],  # a Python dict
])
def test_a_bare_json_call_opening_the_reply_is_a_call_hit(pieces):
    g = gate()
    assert feed_all(g, pieces) == ""
    assert g.hit is not None and g.hit.kind == "call" and g.hit.at_start


def test_json_that_is_not_a_call_passes():
    g = gate()
    assert feed_all(g, ['{"', "city", '": "Oslo"}']) == '{"city": "Oslo"}'
    g = gate()
    assert feed_all(g, ["```", "python", "\nprint(1)\n```"]) == "```python\nprint(1)\n```"
    # Without tools offered a reply opening {"name" is just JSON.
    g = gate(json_openers=False)
    assert feed_all(g, ['{"name": "Ann"}']) == '{"name": "Ann"}'
    # {"name" later in a reply is text.
    g = gate()
    assert feed_all(g, ['Use {"name": 1}']) == 'Use {"name": 1}'


def test_a_call_written_on_its_own_line_ends_the_reply():
    """A model restating a call after its output (Qwen, greedy) does not show the call."""
    g = gate()
    shown = feed_all(g, ["Here is the weather:", "\n\n", '{"name": "get_weather", ',
                         '"arguments": {"city": "Oslo"}}'])
    assert shown.rstrip() == "Here is the weather:"
    assert g.hit is not None and g.hit.kind == "stop"


@pytest.mark.parametrize("marker", [
    "<tool_response>", "</tool_call>", "<|im_start|>", "<|im_end|>", "<|eot_id|>",
    "<|start_header_id|>",
])
def test_markup_ends_the_reply_and_is_never_shown(marker):
    g = gate()
    shown = feed_all(g, ["The answer is 4.", marker[:3], marker[3:], "user\nmore"])
    assert shown == "The answer is 4."
    assert g.hit is not None and g.hit.kind == "stop" and not g.hit.at_start


def test_markup_opening_the_reply_shows_nothing():
    g = gate()
    assert feed_all(g, ["\n", "<tool_response>", "{}"]) == ""
    assert g.hit is not None and g.hit.at_start and g.shown == ""


def test_a_partial_marker_at_the_end_is_dropped():
    g = gate()
    assert feed_all(g, ["Done.", " <tool_ca"]) == "Done. "


def test_control_tokens_end_the_reply_or_open_a_call():
    g = gate()
    assert g.feed("Hi") == "Hi"
    assert g.control("<|python_tag|>") == ""
    assert g.hit is not None and g.hit.kind == "call" and not g.hit.at_start
    g = gate()
    assert g.control("<|reserved_special_token_3|>") == ""
    assert g.hit is not None and g.hit.kind == "stop" and g.hit.at_start


def test_leading_whitespace_waits_for_the_reply():
    g = gate()
    assert g.feed("\n") == "" and g.feed("  ") == ""
    assert g.feed("Yes") == "\n  Yes"


def test_leading_punctuation_waits_and_a_call_behind_it_is_a_call():
    g = gate()
    assert g.feed("**") == "" and g.feed("Bold") == "**Bold"
    g = gate()  # the rest of an opener the model was kept from writing, then a bare call
    assert g.feed(">") == "" and g.feed('{"name": "f"') == ""
    assert g.hit is not None and g.hit.kind == "call" and g.hit.at_start
    g = gate()
    assert g.feed("--") == "" and g.finish() == "--"  # a reply of punctuation still shows


ROUNDS = [
    {"role": "user", "content": "Weather in Oslo and Rome?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"id": "call_2", "name": "get_weather", "arguments": '{"city": "Rome"}'}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "snow"},
    {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": "sun"},
]


def test_native_rounds_keep_parallel_calls_together():
    out = native_messages(ROUNDS)
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool"]
    assert out[1]["tool_calls"][1]["function"] == {"name": "get_weather",
                                                   "arguments": {"city": "Rome"}}
    assert out[2]["content"] == "snow"  # the output as it is: data, no wrapping


def test_native_rounds_one_call_per_message():
    out = native_messages(ROUNDS, one_call_per_message=True)
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "assistant", "tool"]
    assert [len(m.get("tool_calls", [])) for m in out] == [0, 1, 0, 1, 0]
    assert [m["content"] for m in out if m["role"] == "tool"] == ["snow", "sun"]


def test_code_only_functions_are_recognised():
    code = {"type": "object", "properties": {"code": {"type": "string",
                                                      "description": "The Python code to run."}},
            "required": ["code"]}
    assert takes_code(code)
    assert not takes_code({"type": "object", "properties": {"code": {"type": "integer"}}})
    assert not takes_code({"type": "object", "properties": {
        "code": {"type": "string"}, "lang": {"type": "string"}}})
    assert not takes_code({"type": "object", "properties": {
        "code": {"type": "string", "maxLength": 5}}})  # constrained: the schema grammar


@pytest.mark.parametrize("raw,kept", [
    ("print(1)", "print(1)"), ("a\\nb", "a\\nb"), ("a\\", "a"), ("a\\u00", "a"),
    ("a\\u0041", "a\\u0041"), ("a\\\\", "a\\\\"), ("a\\\\\\", "a\\\\"),
])
def test_a_cut_code_string_loses_only_its_incomplete_escape(raw, kept):
    assert _complete_escapes(raw) == kept
    json.loads(f'"{kept}"')


def test_a_program_that_loops_keeps_one_copy_of_the_repeated_line():
    from airlock.models.program_loops import looping, without_repeats
    assert looping("x = 1\nprint(x)\nprint(x)\nprint(x)\npri")
    assert not looping("x = 1\nprint(x)\nprint(x)\npri")  # twice may be meant
    lines = ["def f():", "    return 1", "print(f())", "print(f())", "print(f())", "print(f())"]
    assert without_repeats(lines) == ["def f():", "    return 1", "print(f())"]
    assert without_repeats(["a", "a", "b"]) == ["a", "a", "b"]


def test_a_program_that_writes_a_block_again_keeps_one_copy_of_it():
    from airlock.models.program_loops import looping, without_repeats
    block = ["def area(r):", "    return 3.14159 * r ** 2", ""]
    program = ["import math"] + block + block + ["print(area(2))"]
    assert not looping("\n".join(["import math"] + block) + "\nprint(area(2))\n")
    assert looping("\n".join(["import math"] + block + block) + "\n")
    assert without_repeats(program) == ["import math"] + block + ["print(area(2))"]
    # Two different lines in turn are a block too; a blank line repeated is not a loop.
    assert without_repeats(["x = 1", "y = 2", "x = 1", "y = 2", "", "", "", "z"]) == [
        "x = 1", "y = 2", "", "", "", "z"]


def test_a_program_counting_line_by_line_stops_but_keeps_its_lines():
    from airlock.models.program_loops import SAME_SHAPE, looping, without_repeats
    counting = [f"print(fib({n}))" for n in range(1, SAME_SHAPE + 1)]
    assert looping("\n".join(counting) + "\n")
    assert not looping("\n".join(counting[:-1]) + "\n")
    assert without_repeats(counting) == counting


@pytest.mark.parametrize("program", [
    # Qwen2.5-Coder-0.5B closed its code string here (a recursive call is not a use).
    "import numpy as np\n\ndef fibonacci(n):\n    if n <= 1:\n        return n\n"
    "    return fibonacci(n-1) + fibonacci(n-2)",
    "def area(r):\n    return 3.14 * r ** 2\n\nradius = 3",
    "async def f():\n    print(1)",  # a print inside a function never called shows nothing
])
def test_a_program_that_only_defines_functions_is_unfinished(program):
    from airlock.models.program_unfinished import unfinished
    assert unfinished(program)


@pytest.mark.parametrize("program", [
    "def fib(n):\n    return n\n\nprint(fib(20))",
    "def fib(n):\n    return n\n\nresult = fib(20)",  # ran (the model may print it later)
    "def fib(n):\n    return n\n\nfib(20)",
    "def f():\n    return 1\nx = 2\nx",  # the last expression is shown
    "import matplotlib.pyplot as plt\ndef f(x):\n    return x\nplt.plot([1, 2])",
    "x = 2 ** 31",  # no definitions: not this rule's business
    "def f(:\n    pass",  # does not parse: the turn decides
    "",
])
def test_a_program_that_runs_something_is_finished(program):
    from airlock.models.program_unfinished import unfinished
    assert not unfinished(program)
