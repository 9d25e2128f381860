"""What the model sees: instructions, then the thread's messages, cut to fit the budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airlock.models.backend import ModelBackend


class PromptTooLong(Exception):
    def __init__(self, tokens: int, budget: int):
        super().__init__(f"the prompt needs {tokens} tokens, the budget is {budget}")
        self.tokens = tokens
        self.budget = budget


def message_text(message: dict[str, Any]) -> str:
    """A stored message as plain text for the model."""
    parts = []
    for part in message["content"]:
        if part["type"] == "text":
            parts.append(part["text"]["value"])
        elif part["type"] == "image_file":
            parts.append(f"[image file {part['image_file']['file_id']}]")
        elif part["type"] == "image_url":
            parts.append(f"[image {part['image_url']['url']}]")
        elif part["type"] == "refusal":
            parts.append(part["refusal"])
    return "\n".join(parts)


def conversation(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": message_text(m)} for m in history]


def round_messages(steps: list[dict[str, Any]],
                   tool_io: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A run's answered tool_calls steps as an assistant turn of calls plus one result each.

    Built-in calls (file_search) show the model the arguments it wrote and the output the
    engine made, both kept in `tool_io` by call id.
    """
    out: list[dict[str, Any]] = []
    for step in steps:
        calls = [_call_io(c, tool_io or {}) for c in step["step_details"]["tool_calls"]]
        out.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": c["id"], "name": c["name"], "arguments": c["arguments"]} for c in calls]})
        out += [{"role": "tool", "tool_call_id": c["id"], "name": c["name"],
                 "content": c["output"] or ""} for c in calls]
    return out


def _call_io(call: dict[str, Any], tool_io: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if call["type"] == "function":
        return {"id": call["id"], **call["function"]}
    io = tool_io.get(call["id"], {})
    return {"id": call["id"], "name": io.get("name", call["type"]),
            "arguments": io.get("arguments", "{}"), "output": io.get("output", "")}


def fit(
    backend: ModelBackend,
    instructions: str,
    history: list[dict[str, Any]],
    *,
    budget: int,
    last_messages: int | None = None,
    tools: Sequence[dict[str, Any]] = (),
    tool_choice: Any = "none",
) -> tuple[list[dict[str, Any]], int]:
    """Drops the oldest messages until the prompt fits `budget` tokens; the newest always stays.

    Returns the prompt messages and their token count, or raises PromptTooLong.
    """
    system = [{"role": "system", "content": instructions}] if instructions else []
    if last_messages is not None:
        history = history[-last_messages:]

    def size(drop: int) -> int:
        return backend.count_tokens(system + history[drop:], tools, tool_choice)

    full = size(0)
    if full <= budget or not history:
        if full > budget:
            raise PromptTooLong(full, budget)
        return system + history, full
    # Token counts fall as more old messages go: binary-search the fewest drops that fit.
    lo, hi = 1, len(history) - 1
    if size(hi) > budget:
        raise PromptTooLong(size(hi), budget)
    while lo < hi:
        mid = (lo + hi) // 2
        if size(mid) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return system + history[lo:], size(lo)
