"""What the model sees: instructions, then the turn's items as messages, cut to fit the budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airlock.engine.core.items import FunctionCall, FunctionOutput, Item, Message
from airlock.models.backend import ModelBackend

# Without max_completion_tokens, this much of the context stays free for the reply.
DEFAULT_REPLY_ROOM = 1024


class PromptTooLong(Exception):
    def __init__(self, tokens: int, budget: int):
        super().__init__(f"the prompt needs {tokens} tokens, the budget is {budget}")
        self.tokens = tokens
        self.budget = budget


def render(items: Sequence[Item]) -> list[dict[str, Any]]:
    """Items as the messages model backends take: a message as its role and text (developer
    instructions as system), consecutive function calls as one assistant turn of calls, each
    output as a tool message, and a built-in call as a call plus the result the engine made."""
    names = {i.call_id: i.name for i in items if isinstance(i, FunctionCall)}
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Message):
            role = "system" if item.role == "developer" else item.role
            out.append({"role": role, "content": item.text})
        elif isinstance(item, FunctionCall):
            call = {"id": item.call_id, "name": item.name, "arguments": item.arguments}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls") \
                    and not last.get("builtin"):
                last["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif isinstance(item, FunctionOutput):
            out.append({"role": "tool", "tool_call_id": item.call_id,
                        "name": names.get(item.call_id, ""), "content": item.output})
        else:
            out.append({"role": "assistant", "content": "", "builtin": True, "tool_calls": [
                {"id": item.call_id, "name": item.name, "arguments": item.arguments}]})
            out.append({"role": "tool", "tool_call_id": item.call_id, "name": item.name,
                        "content": item.output})
    for m in out:
        m.pop("builtin", None)
    return out


def budget(n_ctx: int, max_prompt_tokens: int | None, max_completion_tokens: int | None,
           spent: int) -> tuple[int, int | None]:
    """(prompt budget, completion tokens left) of a turn: the reply's room comes off the
    context first, at most half of it (a cap beyond the context must not leave the prompt no
    room). `spent`: completion tokens the run's earlier turns used."""
    remaining = None if max_completion_tokens is None else max(max_completion_tokens - spent, 0)
    room = min(DEFAULT_REPLY_ROOM, n_ctx // 4) if remaining is None else min(remaining, n_ctx // 2)
    prompt_budget = n_ctx - room
    if max_prompt_tokens is not None:
        prompt_budget = min(prompt_budget, max_prompt_tokens)
    return prompt_budget, remaining


def reply_limit(n_ctx: int, prompt_tokens: int, remaining: int | None) -> int:
    """max_tokens of the model call: what the context has left, within the run's cap; at least
    one (a backend may read 0 as "no limit")."""
    limit = n_ctx - prompt_tokens if remaining is None else min(n_ctx - prompt_tokens, remaining)
    return max(1, limit)


def fit(
    backend: ModelBackend,
    instructions: str,
    history: list[dict[str, Any]],
    *,
    budget: int,
    last_messages: int | None = None,
    tools: Sequence[dict[str, Any]] = (),
    tool_choice: Any = "none",
    truncate: bool = True,
) -> tuple[list[dict[str, Any]], int]:
    """Drops the oldest messages until the prompt fits `budget` tokens; the newest always stays.
    With `truncate` false (Responses' `truncation: "disabled"`) nothing is dropped.

    Tool-round messages (an assistant's calls, their results) belong to the message before
    them: they are kept or dropped with it, and `last_messages` counts thread messages only.
    Returns the prompt messages and their token count, or raises PromptTooLong.
    """
    system = [{"role": "system", "content": instructions}] if instructions else []
    starts = _message_starts(history)
    if last_messages is not None and last_messages < len(starts):
        history = history[starts[-last_messages]:]
        starts = _message_starts(history)

    def size(k: int) -> int:  # the prompt without the k oldest messages
        return backend.count_tokens(system + history[starts[k]:], tools, tool_choice)

    full = size(0)
    if full <= budget or len(starts) == 1 or not truncate:
        if full > budget:
            raise PromptTooLong(full, budget)
        return system + history, full
    # Token counts fall as more old messages go: binary-search the fewest drops that fit.
    lo, hi = 1, len(starts) - 1
    if size(hi) > budget:
        raise PromptTooLong(size(hi), budget)
    while lo < hi:
        mid = (lo + hi) // 2
        if size(mid) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return system + history[starts[lo]:], size(lo)


def _message_starts(history: list[dict[str, Any]]) -> list[int]:
    """Where each thread message (with the tool-round messages after it) begins."""
    return [0] + [i for i, m in enumerate(history)
                  if i and m["role"] != "tool" and not m.get("tool_calls")]
