"""Builders for the scripted model's replies: the JSON `POST /airlock/v1/scripted/replies` takes.

Each builder makes one model turn. Queue several at once with `Airlock.queue(...)`; the handle's
own methods (`reply`, `call_function`, ...) build and queue in one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Reply = dict[str, Any]
ToolCall = dict[str, Any]


def text(value: str, *, delay_ms: int = 0) -> Reply:
    """The model answers `value`; `delay_ms` paces it word by word (to test cancel or streams).
    Markers like `【0:0†policy.txt】` become citations after a file_search, as from a real model."""
    reply: Reply = {"text": value}
    if delay_ms:
        reply["delay_ms"] = delay_ms
    return reply


def function(name: str, arguments: Mapping[str, Any] | None = None) -> ToolCall:
    """One function call, for `tool_calls(...)`."""
    return {"type": "function", "function": {"name": name, "arguments": dict(arguments or {})}}


def tool_calls(calls: Iterable[ToolCall]) -> Reply:
    """The model calls these tools in one turn (several function calls: a parallel call)."""
    return {"tool_calls": list(calls)}


def function_call(name: str, arguments: Mapping[str, Any] | None = None) -> Reply:
    """The model calls one function; the run goes to `requires_action`."""
    return tool_calls([function(name, arguments)])


def function_calls(calls: Iterable[tuple[str, Mapping[str, Any]]]) -> Reply:
    """The model calls several functions in one turn: `[("get_weather", {"city": "Paris"}), ...]`."""
    return tool_calls(function(name, args) for name, args in calls)


def file_search(query: str) -> Reply:
    """The model searches the run's vector stores with exactly `query`; queue its answer next."""
    return tool_calls([{"type": "file_search", "file_search": {"query": query}}])


def code_interpreter(code: str) -> Reply:
    """The model runs exactly `code` in the thread's sandboxed kernel; queue its answer next."""
    return tool_calls([{"type": "code_interpreter", "code_interpreter": {"input": code}}])


def error(message: str, *, text: str = "") -> Reply:
    """The model emits `text`, then fails: the run ends `failed` with `message` in `last_error`."""
    reply: Reply = {"error": message}
    if text:
        reply["text"] = text
    return reply
