"""GBNF grammars for JSON replies (airlock/models/json_grammar.py), run through llama.cpp's own
grammar parser and matcher without a model (the `gbnf` fixture)."""

from __future__ import annotations

import json
import random

import pytest

from airlock.models.json_grammar import (
    MAX_ARRAY_ITEMS,
    all_declared,
    integer_range_gbnf,
    json_object_gbnf,
    json_schema_gbnf,
    quantize_budget,
)


def texts(value):
    """The ways a model may write `value`: compact, and with json.dumps' spaces."""
    return [json.dumps(value, ensure_ascii=False, separators=(",", ":")),
            json.dumps(value, ensure_ascii=False)]


def test_the_matcher_is_llama_cpps_parser(gbnf):
    assert gbnf.parses('root ::= "a" [0-9]{1,2}')
    assert not gbnf.parses('root ::= "a')  # unterminated literal
    assert not gbnf.parses("root ::= missing-rule")
    assert not gbnf.parses('start ::= "a"')  # no root
    g = 'root ::= "a" [0-9]{1,2}'
    assert [gbnf.matches(g, t) for t in ("a1", "a12", "a", "a123", "b1", "")] == [
        True, True, False, False, False, False]
    with pytest.raises(ValueError):
        gbnf.matches('root ::= "a', "a")


# --- schemas --------------------------------------------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "address": {"type": "object", "properties": {
            "city": {"type": "string"},
            "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["city"]},
    },
    "required": ["name", "age"],
}
ROUTE = {
    "$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer"},
                                                      "y": {"type": "integer"}},
                     "required": ["x", "y"]}},
    "type": "object",
    "properties": {"from": {"$ref": "#/$defs/pt"}, "to": {"$ref": "#/$defs/pt"}},
    "required": ["from", "to"],
}

CASES = {
    "nested objects, required and optional": (PERSON, [
        {"name": "Ann", "age": 30},
        {"name": "", "age": 0, "address": {"city": "Oslo"}},
        {"name": "Zoë \"Z\"", "age": 150, "address": {"city": "Tromsø", "zip": "12345"}},
    ], [
        {"name": "Ann"}, {"age": 30}, {"name": "Ann", "age": 151}, {"name": "Ann", "age": -1},
        {"name": "Annabelle", "age": 3}, {"name": "Ann", "age": 3.5},
        {"name": "Ann", "age": 3, "address": {}},
        {"name": "Ann", "age": 3, "address": {"city": "Oslo", "zip": "1234"}},
        {"name": "Ann", "age": 3, "extra": 1}, [], "Ann",
    ]),
    "enum with escapes": ({"enum": ["red", 'say "hi"', "back\\slash", "Zürich", 1, None, True]},
                          ["red", 'say "hi"', "back\\slash", "Zürich", 1, None, True],
                          ["blue", "Zurich", 2, False, "say \\"]),
    "const": ({"type": "object", "properties": {"kind": {"const": "a\\b"}},
               "required": ["kind"]}, [{"kind": "a\\b"}], [{"kind": "ab"}, {"kind": "a\\\\b"}]),
    "property names with escapes": (
        {"type": "object", "properties": {'quote"d': {"type": "boolean"},
                                          "back\\slash": {"type": "null"}},
         "required": ['quote"d', "back\\slash"]},
        [{'quote"d': True, "back\\slash": None}], [{"quoted": True, "back\\slash": None}]),
    "bounded array": ({"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 3},
                       "minItems": 1, "maxItems": 3},
                      [[1], [1, 2, 3], [3, 3]], [[], [1, 2, 3, 1], [0], [4], ["1"], {}]),
    "string lengths": ({"type": "string", "minLength": 2, "maxLength": 4},
                       ["ab", "abcd", "\n\t", "Zür", 'a"b'], ["a", "", "abcde", 12]),
    "anyOf": ({"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9},
                         {"type": "string", "maxLength": 2}, {"type": "null"}]},
              [0, 9, "ab", "", None], [10, -1, "abc", True, [], 1.5]),
    "oneOf objects": ({"oneOf": [
        {"type": "object", "properties": {"t": {"const": "a"}, "n": {"type": "integer"}},
         "required": ["t", "n"]},
        {"type": "object", "properties": {"t": {"const": "b"}}, "required": ["t"]}]},
        [{"t": "a", "n": 1}, {"t": "b"}], [{"t": "c"}, {"t": "a"}, {"t": "b", "n": "x"}]),
    "$ref": (ROUTE, [{"from": {"x": 0, "y": -1}, "to": {"x": 10, "y": 20}}],
             [{"from": {"x": 0}, "to": {"x": 1, "y": 2}}, {"from": {"x": 0, "y": 0}}]),
    "booleans and numbers": (
        {"type": "object", "properties": {"ok": {"type": "boolean"}, "score": {"type": "number"}},
         "required": ["ok", "score"]},
        [{"ok": True, "score": -1500.25}, {"ok": False, "score": 0}, {"ok": True, "score": 2.5e20}],
        [{"ok": "true", "score": 1}, {"ok": True, "score": "1"}, {"ok": None, "score": 1}]),
    "date and pattern": (
        {"type": "array", "items": {"anyOf": [{"type": "string", "format": "date"},
                                              {"type": "string", "pattern": "^[a-z]{2}[0-9]$"}]}},
        [["2024-01-31", "ab1"], []], [["2024-1-31"], ["ab12"], ["AB1"]]),
    "free-form members": (
        {"type": "object", "properties": {"meta": {"type": "object"}, "rows": {"type": "array"}},
         "required": ["meta", "rows"]},
        [{"meta": {}, "rows": []}, {"meta": {"a": [1, "x", None]}, "rows": [{"b": True}, 2.5]}],
        [{"meta": [], "rows": []}, {"meta": {}, "rows": {}}]),
}


@pytest.mark.parametrize("schema, good, bad", CASES.values(), ids=CASES.keys())
def test_schema_grammar_accepts_instances_and_rejects_others(gbnf, schema, good, bad):
    grammar = json_schema_gbnf(schema, 2048)
    assert gbnf.parses(grammar)
    for value in good:
        for text in texts(value):
            assert gbnf.matches(grammar, text), text
    for value in bad:
        for text in texts(value):
            assert not gbnf.matches(grammar, text), text


def test_strings_never_hold_raw_control_characters(gbnf):
    string, anything = json_schema_gbnf({"type": "string"}, 256), json_object_gbnf(256)
    assert gbnf.matches(string, '"tab\\there"')
    assert not gbnf.matches(string, '"tab\there"')
    assert gbnf.matches(anything, '{"a": "x\\u0001y"}')
    assert not gbnf.matches(anything, '{"a": "x\x01y"}')


def test_open_strings_and_arrays_are_bounded_by_the_budget(gbnf):
    small, large = json_schema_gbnf({"type": "string"}, 64), json_schema_gbnf({"type": "string"}, 4096)
    assert gbnf.matches(small, json.dumps("x" * 8))
    assert not gbnf.matches(small, json.dumps("x" * 100))
    assert gbnf.matches(large, json.dumps("x" * 200))
    assert not gbnf.matches(large, json.dumps("x" * 300))
    numbers = json_schema_gbnf({"type": "array", "items": {"type": "integer"}}, 4096)
    assert gbnf.matches(numbers, json.dumps(list(range(3))))
    assert not gbnf.matches(numbers, json.dumps([1] * (MAX_ARRAY_ITEMS + 1)))
    # A minLength above the budget's cap wins over the cap.
    long_enough = json_schema_gbnf({"type": "string", "minLength": 40}, 64)
    assert gbnf.matches(long_enough, json.dumps("x" * 40))
    assert not gbnf.matches(long_enough, json.dumps("x" * 39))
    # A schema's own maxLength is kept when it is within the budget.
    assert gbnf.matches(json_schema_gbnf({"type": "string", "maxLength": 40}, 64),
                        json.dumps("x" * 40))


def test_explicit_max_items_are_bounded_too(gbnf):
    # A schema's own maxItems is sized from the budget too: llama.cpp refuses a grammar above
    # ~1000 repetitions (and its parser crashes at 100000, so that case is not run here).
    grammar = json_schema_gbnf({"type": "array", "items": {"type": "integer"},
                                "maxItems": 5000}, 256)
    assert gbnf.parses(grammar)
    assert gbnf.matches(grammar, "[1,2,3]")


def test_unsatisfiable_string_lengths_are_a_value_error():
    # `char{5,3}` would make llama.cpp's parser allocate without bound (the process is
    # OOM-killed), so the grammar is never handed to the matcher here.
    with pytest.raises(ValueError):
        json_schema_gbnf({"type": "string", "minLength": 5, "maxLength": 3}, 256)


def test_minimum_items_survive_a_small_budget(gbnf):
    grammar = json_schema_gbnf({"type": "array", "items": {"type": "string"}, "minItems": 3}, 32)
    assert gbnf.matches(grammar, '["a","b","c"]')
    assert not gbnf.matches(grammar, '["a","b"]')


def test_properties_with_additional_properties_stay_valid_json(gbnf):
    # llama-cpp-python's vendored converter left out the comma before extra members after an
    # optional property, letting the model write `{"a": 1"c": 3}`, which json.loads rejects.
    schema = {"type": "object", "properties": {"a": {"type": "integer"}},
              "additionalProperties": {"type": "integer"}}
    grammar = json_schema_gbnf(schema, 2048)
    assert gbnf.matches(grammar, '{"a": 1, "c": 3}')
    assert not gbnf.matches(grammar, '{"a": 1"c": 3}')


def test_additional_members_cannot_bypass_a_declared_property(gbnf):
    # Extra members may not take a declared property's name (with the extras' value type).
    schema = {"type": "object", "properties": {"a": {"type": "string"}},
              "additionalProperties": {"type": "integer"}}
    grammar = json_schema_gbnf(schema, 2048)
    assert gbnf.matches(grammar, '{"c": 3}')
    assert not gbnf.matches(grammar, '{"a": 1}')


def test_additional_properties_alone_are_bounded(gbnf):
    grammar = json_schema_gbnf({"type": "object", "additionalProperties": {"type": "integer"}},
                               4096)
    members = lambda n: json.dumps({f"k{i}": i for i in range(n)})  # noqa: E731
    assert [gbnf.matches(grammar, members(n)) for n in (0, 1, 12, 13)] == [True, True, True, False]
    assert not gbnf.matches(grammar, '{"k": "x"}')


# --- tool-call arguments: every declared property written ------------------------------------

S = {"type": "string"}
# The cookbook's display_quiz (as in scripts/eval/tool_calls.py): question_type is declared in
# each question but not required, and the cookbook's function reads it unguarded.
DISPLAY_QUIZ = {"type": "object", "properties": {
    "title": S, "questions": {"type": "array", "items": {"type": "object", "properties": {
        "question_text": S,
        "question_type": {"type": "string", "enum": ["MULTIPLE_CHOICE", "FREE_RESPONSE"]},
        "choices": {"type": "array", "items": S}}, "required": ["question_text"]}}},
    "required": ["title", "questions"]}


def test_quiz_arguments_always_hold_every_question_field(gbnf):
    grammar = json_schema_gbnf(all_declared(DISPLAY_QUIZ), 256)
    full = {"question_text": "2+2?", "question_type": "MULTIPLE_CHOICE", "choices": ["3", "4"]}
    assert gbnf.matches(grammar, json.dumps({"title": "Math", "questions": [full]}))
    without_type = {"question_text": "2+2?", "choices": ["3", "4"]}
    assert not gbnf.matches(grammar, json.dumps({"title": "Math", "questions": [without_type]}))
    # Still valid for its schema: an enum value, in schema order.
    for bad in ({**full, "question_type": "ESSAY"},
                {"question_type": "FREE_RESPONSE", "question_text": "x", "choices": []}):
        assert not gbnf.matches(grammar, json.dumps({"title": "M", "questions": [bad]}))
    # JSON-mode schemas are constrained as written: the optional field stays optional there.
    as_written = json_schema_gbnf(DISPLAY_QUIZ, 256)
    assert gbnf.matches(as_written, json.dumps({"title": "Math", "questions": [without_type]}))


def test_all_declared_leaves_defaults_and_unconstrained_properties_optional(gbnf):
    schema = {"type": "object", "properties": {
        "city": S, "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
        "extra": {}, "days": {"type": "integer"},
        "where": {"$ref": "#/$defs/pt"}},
        "required": ["city"], "additionalProperties": False,
        "$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer"},
                                                          "y": {"type": "integer"}}}}}
    out = all_declared(schema)
    assert out["required"] == ["city", "days", "where"]
    assert out["$defs"]["pt"]["required"] == ["x", "y"]
    assert out["additionalProperties"] is False
    assert schema["required"] == ["city"] and "required" not in schema["$defs"]["pt"]  # a copy
    grammar = json_schema_gbnf(out, 512)
    assert gbnf.matches(grammar, '{"city": "Oslo", "days": 3, "where": {"x": 1, "y": 2}}')
    # The optional ones may follow the written ones (the object rule's order: required first).
    assert gbnf.matches(grammar, '{"city": "Oslo", "days": 3, "where": {"x": 1, "y": 2}, '
                                 '"unit": "f", "extra": {"k": 1}}')
    assert not gbnf.matches(grammar, '{"city": "Oslo", "where": {"x": 1, "y": 2}}')
    assert not gbnf.matches(grammar, '{"city": "Oslo", "days": 3, "where": {"x": 1}}')


def test_all_declared_reaches_branches_and_items():
    obj = {"type": "object", "properties": {"a": S}}
    out = all_declared({"anyOf": [obj, {"type": "array", "items": obj}], "oneOf": [obj]})
    assert out["anyOf"][0]["required"] == ["a"]
    assert out["anyOf"][1]["items"]["required"] == ["a"]
    assert out["oneOf"][0]["required"] == ["a"]
    assert all_declared({"type": "object"}) == {"type": "object"}


# --- free-form JSON objects -----------------------------------------------------------------------


def nested(depth: int):
    return 1 if depth == 0 else {"k": nested(depth - 1)}


def test_json_object_grammar_takes_objects_only(gbnf):
    grammar = json_object_gbnf(4096)
    good = [{}, {"a": 1}, {"a": [1, -2.5e3, "x", None, True, {"b": 1}]}, nested(3),
            {f"k{i}": i for i in range(12)}]
    for value in good:
        for text in texts(value):
            assert gbnf.matches(grammar, text), text
    assert gbnf.matches(grammar, json.dumps({"a": {"b": [1, 2]}}, indent=2))
    for text in ("[]", '"x"', "1", "null", "", "{", '{"a":}', '{"a" 1}', "{'a': 1}",
                 '{"a": 1,}', json.dumps({f"k{i}": i for i in range(13)})):
        assert not gbnf.matches(grammar, text), text


@pytest.mark.parametrize("budget, depth, members", [
    (16, 1, 2), (64, 1, 2), (256, 2, 4), (4096, 3, 12), (65536, 4, 12)])
def test_json_object_grammar_grows_with_the_budget_but_stays_bounded(gbnf, budget, depth,
                                                                     members):
    grammar = json_object_gbnf(budget)
    assert gbnf.matches(grammar, json.dumps(nested(depth)))
    assert not gbnf.matches(grammar, json.dumps(nested(depth + 1)))
    assert gbnf.matches(grammar, json.dumps({f"k{i}": i for i in range(members)}))
    assert not gbnf.matches(grammar, json.dumps({f"k{i}": i for i in range(members + 1)}))
    assert not gbnf.matches(grammar, json.dumps({"s": "x" * 300}))


# --- integer ranges -------------------------------------------------------------------------------

RANGES = [(0, 0), (0, 9), (1, 9), (0, 10), (9, 10), (10, 99), (0, 100), (5, 123), (99, 101),
          (100, 999), (101, 1000), (190, 210), (-7, 7), (-123, -8), (-10, -10), (-1000, 1000),
          (0, None), (7, None), (-1, None), (None, -3), (None, 0), (None, 15), (None, None)]
RANGES += [(a, b) for a, b in (sorted(random.Random(seed).sample(range(-1200, 1200), 2))
                                for seed in range(12))]


def values_near(lo, hi) -> set[int]:
    near = set(range(-120, 121))
    for edge in (lo, hi):
        if edge is not None:
            near |= set(range(edge - 60, edge + 61))
    return near | {s * (10**k + d) for k in range(1, 5) for d in (-1, 0, 1) for s in (1, -1)}


@pytest.mark.parametrize("lo, hi", RANGES)
def test_integer_range_is_exact(gbnf, lo, hi):
    grammar = "root ::= " + integer_range_gbnf(lo, hi)
    for n in sorted(values_near(lo, hi)):
        inside = (lo is None or n >= lo) and (hi is None or n <= hi)
        assert gbnf.matches(grammar, str(n)) == inside, n
    for text in ("-0", "00", "01", "-01", "+1", "", "-", "1.0", "1e3", " 1"):
        assert not gbnf.matches(grammar, text), text


def test_wide_integer_ranges(gbnf):
    grammar = "root ::= " + integer_range_gbnf(123456789012345, 123456789012399)
    assert [gbnf.matches(grammar, str(n)) for n in (
        123456789012344, 123456789012345, 123456789012360, 123456789012399,
        123456789012400)] == [False, True, True, True, False]
    unbounded = "root ::= " + integer_range_gbnf(10**15, None)
    assert gbnf.matches(unbounded, str(10**15)) and gbnf.matches(unbounded, "9" * 16)
    assert not gbnf.matches(unbounded, str(10**15 - 1))


def test_empty_integer_range_is_an_error():
    with pytest.raises(ValueError):
        integer_range_gbnf(5, 4)
    with pytest.raises(ValueError, match="Unsupported JSON schema"):
        json_schema_gbnf({"type": "integer", "minimum": 3, "exclusiveMaximum": 3}, 256)


@pytest.mark.parametrize("bounds, inside", [
    ({"minimum": 1.5, "maximum": 9.7}, range(2, 10)),
    ({"minimum": 3, "exclusiveMinimum": True, "maximum": 10, "exclusiveMaximum": True},
     range(4, 10)),  # draft 4 booleans
    ({"exclusiveMinimum": -3, "exclusiveMaximum": 3}, range(-2, 3)),  # draft 6 numbers
    ({"exclusiveMinimum": 2.5, "maximum": 6}, range(3, 7)),
    ({"minimum": -4, "exclusiveMinimum": -2, "maximum": 0}, range(-1, 1)),
])
def test_integer_schema_bounds(gbnf, bounds, inside):
    grammar = json_schema_gbnf({"type": "integer", **bounds}, 256)
    assert [n for n in range(-30, 30) if gbnf.matches(grammar, str(n))] == list(inside)


# --- errors and budgets ---------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [
    [{"type": "string"}], "string", {"$ref": "https://example.com/schema.json"},
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, {"type": "bogus"}])
def test_unusable_schemas_are_value_errors(schema):
    with pytest.raises(ValueError):
        json_schema_gbnf(schema, 256)


@pytest.mark.parametrize("max_tokens, budget", [
    (1, 16), (16, 16), (17, 16), (100, 64), (4096, 4096), (5000, 4096), (10**9, 65536)])
def test_quantize_budget(max_tokens, budget):
    assert quantize_budget(max_tokens) == budget
