"""Which tools a turn offers and what the model must do with them (airlock/engine/offering.py)."""

from __future__ import annotations

import pytest

from airlock.engine.offering import CODE_INTERPRETER, FILE_SEARCH, MAX_ROUNDS, offer, offered_builtins

WEATHER = {"name": "weather", "description": "Weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CLOCK = {"name": "clock", "parameters": {"type": "object", "properties": {}}}
FUNCTIONS = [{"type": "function", "function": WEATHER}, {"type": "function", "function": CLOCK}]
BUILTINS = [{"type": "file_search"}, {"type": "code_interpreter"}]


def used(*names: str) -> dict:
    return {"tool_io": {f"call_{i}": {"name": n} for i, n in enumerate(names)}}


def offered_names(functions) -> list[str]:
    return [f["name"] for f in functions]


def test_functions_then_builtins(make_record):
    run = make_record(tools=[*BUILTINS, *FUNCTIONS])
    functions, choice = offer(run, 0)
    assert functions == [WEATHER, CLOCK, FILE_SEARCH, CODE_INTERPRETER]
    assert choice == "auto"


def test_only_the_runs_tools_are_offered(make_record):
    assert offered_names(offer(make_record(tools=FUNCTIONS[1:]), 0)[0]) == ["clock"]
    assert offered_names(offer(make_record(tools=[{"type": "file_search"}]), 0)[0]) == [
        "file_search"]
    assert offered_builtins(make_record(tools=FUNCTIONS)) == []


@pytest.mark.parametrize("calls, expected", [
    ((), ["file_search", "code_interpreter"]),
    (("file_search",), ["code_interpreter"]),
    (("code_interpreter", "code_interpreter"), ["file_search", "code_interpreter"]),
    (("code_interpreter",) * 3, ["file_search"]),
    (("file_search", "code_interpreter", "code_interpreter", "code_interpreter"), []),
])
def test_builtins_are_offered_a_bounded_number_of_times(make_record, calls, expected):
    run = make_record(tools=BUILTINS, params=used(*calls))
    assert offered_names(offered_builtins(run)) == expected


def test_code_interpreter_is_told_the_files(make_record):
    run = make_record(tools=BUILTINS)
    [fs, ci] = offered_builtins(run, ["/mnt/data/a.csv", "/mnt/data/b.txt"])
    assert fs == FILE_SEARCH
    assert ci["description"] == (CODE_INTERPRETER["description"]
                                 + " Files available: /mnt/data/a.csv, /mnt/data/b.txt.")
    assert ci["parameters"] == CODE_INTERPRETER["parameters"]
    assert "Files available" not in CODE_INTERPRETER["description"]  # the spec is not changed
    [_, plain] = offered_builtins(run, ())
    assert plain == CODE_INTERPRETER
    functions, _ = offer(run, 1, ("/mnt/data/x.png",))
    assert functions[1]["description"].endswith(" Files available: /mnt/data/x.png.")


@pytest.mark.parametrize("wanted", ["auto", "required", "none"])
def test_string_choices_pass_through_on_the_first_turn(make_record, wanted):
    assert offer(make_record(tools=FUNCTIONS, tool_choice=wanted), 0)[1] == wanted


def test_named_function_is_forced(make_record):
    run = make_record(tools=FUNCTIONS,
                      tool_choice={"type": "function", "function": {"name": "clock"}})
    assert offer(run, 0) == ([WEATHER, CLOCK], {"name": "clock"})


@pytest.mark.parametrize("kind", ["file_search", "code_interpreter"])
def test_named_builtin_is_forced_until_used(make_record, kind):
    run = make_record(tools=[*FUNCTIONS, *BUILTINS], tool_choice={"type": kind})
    assert offer(run, 0)[1] == {"name": kind}
    done = make_record(tools=[*FUNCTIONS, *BUILTINS], tool_choice={"type": kind},
                       params=used(kind))
    assert offer(done, 0)[1] == "auto"


def test_named_builtin_the_run_lacks_is_not_forced(make_record):
    run = make_record(tools=FUNCTIONS, tool_choice={"type": "file_search"})
    assert offer(run, 0)[1] == "auto"


@pytest.mark.parametrize("wanted", [
    "required", {"type": "function", "function": {"name": "weather"}},
    {"type": "code_interpreter"}, "auto"])
def test_forcing_relaxes_to_auto_after_the_first_round(make_record, wanted):
    run = make_record(tools=[*FUNCTIONS, *BUILTINS], tool_choice=wanted)
    for rounds in (1, 2, MAX_ROUNDS - 1):
        assert offer(run, rounds)[1] == "auto"


def test_none_stays_none(make_record):
    run = make_record(tools=[*FUNCTIONS, *BUILTINS], tool_choice="none")
    for rounds in (0, 1, MAX_ROUNDS):
        assert offer(run, rounds)[1] == "none"


def test_nothing_to_offer_means_none(make_record):
    assert offer(make_record(tools=[], tool_choice="required"), 0) == ([], "none")
    spent = make_record(tools=[{"type": "file_search"}], tool_choice={"type": "file_search"},
                        params=used("file_search"))
    assert offer(spent, 0) == ([], "none")


def test_after_max_rounds_the_model_must_answer(make_record):
    run = make_record(tools=FUNCTIONS, tool_choice="required")
    assert offer(run, MAX_ROUNDS) == ([WEATHER, CLOCK], "none")
    assert offer(run, MAX_ROUNDS + 3)[1] == "none"
    assert offer(run, MAX_ROUNDS - 1)[1] == "auto"
