"""Which tools a turn offers the model, and what it must do with them.

The turn's functions are offered as they are; the built-ins the engine runs itself
(file_search, code_interpreter) are offered as functions too, so the same grammar-constrained
call machinery writes their arguments. A small model would call a built-in in a loop, so each
is offered a bounded number of times per exchange (since the user's last message), and forcing
(`tool_choice`) applies to the first round only: with outputs back, the model may answer.
"""

from __future__ import annotations

from typing import Any

from airlock.engine.core.items import BUILTIN_NAMES, Choice, TurnSpec

FILE_SEARCH_DESCRIPTION = ("Search the user's uploaded files for passages about a topic. Use it "
                           "for any question about their documents.")
QUERY_DESCRIPTION = "What to look for in the files."
FILE_SEARCH = {
    "name": "file_search",
    "description": FILE_SEARCH_DESCRIPTION,
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string", "description": QUERY_DESCRIPTION}},
        "required": ["query"]},
}
CODE_INTERPRETER = {
    "name": "code_interpreter",
    "description": "Run Python code in a Jupyter kernel that keeps its state between calls. "
                   "numpy, pandas and matplotlib are available; files live in /mnt/data. Use "
                   "it for calculations, data analysis and charts; print() what you need.",
    "parameters": {"type": "object", "properties": {
        "code": {"type": "string", "description": "The Python code to run."}},
        "required": ["code"]},
}
BUILTINS: dict[str, dict[str, Any]] = {"file_search": FILE_SEARCH,
                                       "code_interpreter": CODE_INTERPRETER}
# Calls of each built-in one exchange may make: one search; a few rounds of code (run, read
# the output, fix, run again) before the model must answer.
MAX_USES = {"file_search": 1, "code_interpreter": 3}
# Tool rounds one exchange may take before the model must answer.
MAX_ROUNDS = 8


def offered_builtins(spec: TurnSpec, used: list[str]) -> list[dict[str, Any]]:
    """Built-ins this turn may call, each up to MAX_USES per exchange (`used`: the built-ins
    called so far) and all of them together up to the spec's max_tool_calls. code_interpreter
    is told the /mnt/data paths it will find."""
    if spec.max_tool_calls is not None and len(used) >= spec.max_tool_calls:
        return []
    out = []
    for name in spec.builtins():
        if used.count(name) >= MAX_USES[name]:
            continue
        fn = BUILTINS[name]
        ci = spec.code_interpreter
        if name == "code_interpreter" and ci is not None and ci.files:
            fn = {**fn, "description": fn["description"] + " Files available: "
                  + ", ".join("/mnt/data/" + f.name for f in ci.files) + "."}
        out.append(fn)
    return out


def offer(spec: TurnSpec, rounds: int, used: list[str]) -> tuple[list[dict[str, Any]], Choice]:
    """The functions offered this turn (built-ins included) and what the model must do with
    them. `rounds`: tool rounds the exchange has had so far."""
    builtins = offered_builtins(spec, used)
    functions = [f.spec() for f in spec.functions] + builtins
    choice: Choice = spec.tool_choice
    if isinstance(choice, dict):
        name = choice["name"]
        if name in BUILTIN_NAMES and (name in used or not any(b["name"] == name
                                                              for b in builtins)):
            choice = "auto"  # forced once: the exchange already ran it, or may not any more
    if not functions or rounds >= MAX_ROUNDS:
        return functions, "none"
    if rounds and choice != "none":
        choice = "auto"  # forcing applies to the first round; with outputs back it may answer
    return functions, choice
