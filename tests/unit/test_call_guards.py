"""Which tool calls a turn keeps (airlock/engine/call_guards.py)."""

from __future__ import annotations

from airlock.engine.call_guards import answered, kept, key
from airlock.engine.run_state import ToolIO


def call(name, arguments):
    return {"name": name, "arguments": arguments}


def test_identical_calls_in_one_turn_are_made_once():
    calls = [call("w", '{"city": "Oslo"}'), call("w", '{ "city":"Oslo" }'), call("w", '{"city": "Rome"}')]
    assert kept(calls, set(), named=False) == [calls[0], calls[2]]


def test_a_named_choice_makes_one_call():
    calls = [call("w", '{"city": "Oslo"}'), call("w", '{"city": "Rome"}')]
    assert kept(calls, set(), named=True) == [calls[0]]


def test_calls_already_answered_are_dropped():
    rounds = [{"step_details": {"tool_calls": [{"id": "call_1", "type": "function", "function": {
        "name": "w", "arguments": '{"city":"Oslo"}', "output": "cold"}}]}}]
    done = answered(rounds, {"call_2": ToolIO(name="code_interpreter",
                                              arguments='{"code": "print(1)"}')})
    calls = [call("w", '{"city": "Oslo"}'), call("code_interpreter", '{"code":"print(1)"}'),
             call("w", '{"city": "Bergen"}')]
    assert kept(calls, done, named=False) == [calls[2]]
    assert kept(calls[:2], done, named=False) == []


def test_key_orders_arguments_and_keeps_text_that_is_not_json():
    assert key("f", '{"b": 1, "a": 2}') == key("f", '{"a":2,"b":1}')
    assert key("f", "not json ") == ("f", "not json")
