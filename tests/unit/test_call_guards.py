"""Which tool calls a turn keeps (airlock/engine/core/call_guards.py)."""

from __future__ import annotations

from airlock.engine.core.call_guards import kept, key
from airlock.engine.core.items import BuiltinCall, FunctionCall, FunctionOutput, Message
from airlock.engine.core.turn import _answered, _exchange, _rounds


def call(name, arguments):
    return {"name": name, "arguments": arguments}


def test_identical_calls_in_one_turn_are_made_once():
    calls = [call("w", '{"city": "Oslo"}'), call("w", '{ "city":"Oslo" }'), call("w", '{"city": "Rome"}')]
    assert kept(calls, set(), named=False) == [calls[0], calls[2]]


def test_a_named_choice_makes_one_call():
    calls = [call("w", '{"city": "Oslo"}'), call("w", '{"city": "Rome"}')]
    assert kept(calls, set(), named=True) == [calls[0]]


def test_calls_already_answered_are_dropped():
    exchange = [FunctionCall("call_1", "w", '{"city":"Oslo"}'), FunctionOutput("call_1", "cold"),
                BuiltinCall(call_id="call_2", name="code_interpreter",
                            arguments='{"code": "print(1)"}'),
                FunctionCall("call_3", "w", '{"city":"Paris"}')]  # not answered yet
    done = _answered(exchange)
    calls = [call("w", '{"city": "Oslo"}'), call("code_interpreter", '{"code":"print(1)"}'),
             call("w", '{"city": "Bergen"}')]
    assert kept(calls, done, named=False) == [calls[2]]
    assert kept(calls[:2], done, named=False) == []
    assert kept([call("w", '{"city": "Paris"}')], done, named=False) != []


def test_key_orders_arguments_and_keeps_text_that_is_not_json():
    assert key("f", '{"b": 1, "a": 2}') == key("f", '{"a":2,"b":1}')
    assert key("f", "not json ") == ("f", "not json")


def test_the_exchange_is_what_followed_the_users_last_message():
    earlier = [Message("user", "a"), FunctionCall("c1", "w", "{}"), FunctionOutput("c1", "x"),
               Message("assistant", "done")]
    now = [FunctionCall("c2", "w", "{}"), FunctionCall("c3", "t", "{}"),
           FunctionOutput("c2", "y"), FunctionOutput("c3", "z"),
           BuiltinCall(call_id="c4", name="file_search")]
    items = earlier + [Message("user", "b")] + now
    assert _exchange(items) == now
    assert _rounds(now) == 2  # two calls made together are one round; a built-in is one
