"""Which tools a turn offers and what the model must do with them (engine/core/offering.py)."""

from __future__ import annotations

import pytest

from airlock.engine.core.items import CodeInterpreter, FileSearch, Function, InputFile, TurnSpec
from airlock.engine.core.offering import (
    CODE_INTERPRETER,
    FILE_SEARCH,
    MAX_ROUNDS,
    offer,
    offered_builtins,
)

WEATHER = {"name": "weather", "description": "Weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CLOCK = {"name": "clock", "parameters": {"type": "object", "properties": {}}}
FUNCTIONS = [WEATHER, CLOCK]
BOTH = ("file_search", "code_interpreter")


def make_spec(functions=(), builtins=(), tool_choice="auto", files=(), max_tool_calls=None
              ) -> TurnSpec:
    return TurnSpec(
        instructions="", items=[],
        functions=[Function(f["name"], f.get("description"), f.get("parameters"))
                   for f in functions],
        file_search=FileSearch(()) if "file_search" in builtins else None,
        code_interpreter=CodeInterpreter("thread_x", tuple(
            InputFile(f"file-{i}", name, "") for i, name in enumerate(files)))
        if "code_interpreter" in builtins else None,
        tool_choice=tool_choice, max_tool_calls=max_tool_calls)


def names(functions) -> list[str]:
    return [f["name"] for f in functions]


def test_functions_then_builtins():
    functions, choice = offer(make_spec(FUNCTIONS, BOTH), 0, [])
    assert functions == [WEATHER, CLOCK, FILE_SEARCH, CODE_INTERPRETER]
    assert choice == "auto"


def test_only_the_turns_tools_are_offered():
    assert names(offer(make_spec(FUNCTIONS[1:]), 0, [])[0]) == ["clock"]
    assert names(offer(make_spec(builtins=["file_search"]), 0, [])[0]) == ["file_search"]
    assert offered_builtins(make_spec(FUNCTIONS), []) == []


@pytest.mark.parametrize("calls, expected", [
    ((), ["file_search", "code_interpreter"]),
    (("file_search",), ["code_interpreter"]),
    (("code_interpreter", "code_interpreter"), ["file_search", "code_interpreter"]),
    (("code_interpreter",) * 3, ["file_search"]),
    (("file_search", "code_interpreter", "code_interpreter", "code_interpreter"), []),
])
def test_builtins_are_offered_a_bounded_number_of_times(calls, expected):
    assert names(offered_builtins(make_spec(builtins=BOTH), list(calls))) == expected


def test_max_tool_calls_caps_every_builtin_together():
    spec = make_spec(builtins=BOTH, max_tool_calls=2)
    assert names(offered_builtins(spec, ["file_search"])) == ["code_interpreter"]
    assert offered_builtins(spec, ["file_search", "code_interpreter"]) == []


def test_code_interpreter_is_told_the_files():
    [fs, ci] = offered_builtins(make_spec(builtins=BOTH, files=["a.csv", "b.txt"]), [])
    assert fs == FILE_SEARCH
    assert ci["description"] == (CODE_INTERPRETER["description"]
                                 + " Files available: /mnt/data/a.csv, /mnt/data/b.txt.")
    assert ci["parameters"] == CODE_INTERPRETER["parameters"]
    assert "Files available" not in CODE_INTERPRETER["description"]  # the spec is not changed
    [_, plain] = offered_builtins(make_spec(builtins=BOTH), [])
    assert plain == CODE_INTERPRETER


@pytest.mark.parametrize("wanted", ["auto", "required", "none"])
def test_string_choices_pass_through_on_the_first_turn(wanted):
    assert offer(make_spec(FUNCTIONS, tool_choice=wanted), 0, [])[1] == wanted


def test_named_function_is_forced():
    assert offer(make_spec(FUNCTIONS, tool_choice={"name": "clock"}), 0, []) == (
        [WEATHER, CLOCK], {"name": "clock"})


@pytest.mark.parametrize("kind", BOTH)
def test_named_builtin_is_forced_until_used(kind):
    spec = make_spec(FUNCTIONS, BOTH, tool_choice={"name": kind})
    assert offer(spec, 0, [])[1] == {"name": kind}
    assert offer(spec, 0, [kind])[1] == "auto"


def test_named_builtin_the_turn_lacks_is_not_forced():
    assert offer(make_spec(FUNCTIONS, tool_choice={"name": "file_search"}), 0, [])[1] == "auto"


@pytest.mark.parametrize("wanted", ["required", {"name": "weather"}, {"name": "code_interpreter"},
                                    "auto"])
def test_forcing_relaxes_to_auto_after_the_first_round(wanted):
    spec = make_spec(FUNCTIONS, BOTH, tool_choice=wanted)
    for rounds in (1, 2, MAX_ROUNDS - 1):
        assert offer(spec, rounds, [])[1] == "auto"


def test_none_stays_none():
    spec = make_spec(FUNCTIONS, BOTH, tool_choice="none")
    for rounds in (0, 1, MAX_ROUNDS):
        assert offer(spec, rounds, [])[1] == "none"


def test_nothing_to_offer_means_none():
    assert offer(make_spec(tool_choice="required"), 0, []) == ([], "none")
    spent = make_spec(builtins=["file_search"], tool_choice={"name": "file_search"})
    assert offer(spent, 0, ["file_search"]) == ([], "none")


def test_after_max_rounds_the_model_must_answer():
    spec = make_spec(FUNCTIONS, tool_choice="required")
    assert offer(spec, MAX_ROUNDS, []) == ([WEATHER, CLOCK], "none")
    assert offer(spec, MAX_ROUNDS + 3, [])[1] == "none"
    assert offer(spec, MAX_ROUNDS - 1, [])[1] == "auto"
