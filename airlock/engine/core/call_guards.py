"""Which of the model's tool calls a turn keeps.

A small model repeats itself in calls too: the same call twice in one turn, or again after its
output came back (a run would then wait on requires_action until it expires). So:
- identical calls (same name, same arguments) in one turn are made once;
- a call identical to one the exchange already had answered (core.turn) is dropped; when
  nothing is left, the model is asked to answer instead;
- a named tool_choice makes exactly one call.
"""

from __future__ import annotations

import json

Key = tuple[str, str]


def key(name: str, arguments: str) -> Key:
    """A call's identity: its name and its arguments as canonical JSON."""
    try:
        canonical = json.dumps(json.loads(arguments), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = arguments.strip()
    return name, canonical


def kept(calls: list[dict[str, str]], done: set[Key], named: bool) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen = set(done)
    for call in calls:
        k = key(call["name"], call["arguments"])
        if k not in seen:
            seen.add(k)
            out.append(call)
    return out[:1] if named else out
