"""Which of the model's tool calls a turn keeps.

A small model repeats itself in calls too: the same call twice in one turn, or again after its
output came back (a run would then wait on requires_action until it expires). So:
- identical calls (same name, same arguments) in one turn are made once;
- a call identical to one this run already had answered is dropped; when nothing is left, the
  model is asked to answer instead;
- a named tool_choice makes exactly one call.
"""

from __future__ import annotations

import json
from typing import Any

from airlock.engine.run_state import ToolIO

Key = tuple[str, str]


def key(name: str, arguments: str) -> Key:
    """A call's identity: its name and its arguments as canonical JSON."""
    try:
        canonical = json.dumps(json.loads(arguments), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = arguments.strip()
    return name, canonical


def answered(rounds: list[dict[str, Any]], tool_io: dict[str, ToolIO]) -> set[Key]:
    """The calls this run's earlier rounds made: functions whose outputs came back, and the
    built-ins the engine ran."""
    out = {key(io.name, io.arguments) for io in tool_io.values()}
    for step in rounds:
        for call in step["step_details"]["tool_calls"]:
            if call["type"] == "function":
                out.add(key(call["function"]["name"], call["function"]["arguments"]))
    return out


def kept(calls: list[dict[str, str]], done: set[Key], named: bool) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen = set(done)
    for call in calls:
        k = key(call["name"], call["arguments"])
        if k not in seen:
            seen.add(k)
            out.append(call)
    return out[:1] if named else out
