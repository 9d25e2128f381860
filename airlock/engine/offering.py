"""Which tools a turn offers the model, and what it must do with them.

The run's functions are offered as they are; the built-ins the engine runs itself
(file_search, code_interpreter) are offered as functions too, so the same grammar-constrained
call machinery writes their arguments. A small model would call a built-in in a loop, so each
is offered a bounded number of times per run, and forcing (`tool_choice`) applies to the
first turn only: with outputs back, the model may answer.
"""

from __future__ import annotations

from typing import Any

from airlock.engine.run_state import RunRecord

FILE_SEARCH = {
    "name": "file_search",
    "description": "Search the user's uploaded files for passages about a topic. Use it for any "
                   "question about their documents.",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string", "description": "What to look for in the files."}},
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
# Calls of each built-in one run may make: one search; a few rounds of code (run, read the
# output, fix, run again) before the model must answer.
MAX_USES = {"file_search": 1, "code_interpreter": 3}
# Tool rounds one run may take before the model must answer.
MAX_ROUNDS = 8

# What a turn tells the model backend: "none" | "auto" | "required" | {"name": function}.
Choice = str | dict[str, str]


def offered_builtins(run: RunRecord, files: list[str] | tuple[str, ...] = ()
                     ) -> list[dict[str, Any]]:
    """Built-ins this turn may call, each up to MAX_USES per run. `files`: the /mnt/data paths
    code_interpreter will find, told to the model."""
    used = run.params.used()
    out = []
    for name, spec in BUILTINS.items():
        if run.has_tool(name) and used.count(name) < MAX_USES[name]:
            if name == "code_interpreter" and files:
                spec = {**spec, "description": spec["description"]
                        + " Files available: " + ", ".join(files) + "."}
            out.append(spec)
    return out


def offer(run: RunRecord, rounds: int, files: list[str] | tuple[str, ...] = ()
          ) -> tuple[list[dict[str, Any]], Choice]:
    """The functions offered this turn (built-ins included) and what the model must do with
    them. `rounds`: tool rounds the run has had so far."""
    builtins = offered_builtins(run, files)
    functions = [t["function"] for t in run.tools if t["type"] == "function"] + builtins
    choice: Choice
    wanted = run.tool_choice
    if isinstance(wanted, dict):
        if wanted["type"] == "function":
            choice = {"name": wanted["function"]["name"]}
        elif (any(f["name"] == wanted["type"] for f in builtins)
              and wanted["type"] not in run.params.used()):
            choice = {"name": wanted["type"]}
        else:
            choice = "auto"
    else:
        choice = wanted
    if not functions or rounds >= MAX_ROUNDS:
        return functions, "none"
    if rounds and choice != "none":
        choice = "auto"  # forcing applies to the first turn; with outputs back it may answer
    return functions, choice
