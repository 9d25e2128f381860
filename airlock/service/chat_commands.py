"""What a Chat Completions request asks for, and what it gets back: the service's types.

The HTTP layer builds a `ChatCommand` from the validated body (content parts already flattened
to text, unservable parts refused); the service answers with a `ChatResult`, or while streaming
with `ChoiceText` pieces and `ChoiceEnd`s, which the wire module renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The core's own types where a request's or a choice's part is one: the server names them too.
from airlock.engine.core.items import Function as Function
from airlock.engine.core.items import FunctionCall as FunctionCall
from airlock.engine.core.items import Usage
from airlock.models.backend import Controls as Controls
from airlock.models.backend import TokenLogprob
from airlock.store.records import JsonObject as JsonObject

ChatRole = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class ChatMessage:
    role: ChatRole
    text: str = ""
    tool_calls: tuple[FunctionCall, ...] = ()
    tool_call_id: str = ""  # role "tool": the call this answers


@dataclass(frozen=True)
class ChatCommand:
    model: str
    messages: tuple[ChatMessage, ...]
    functions: tuple[Function, ...] = ()
    tool_choice: str | dict[str, str] = "auto"  # "none" | "auto" | "required" | {"name": fn}
    parallel_tool_calls: bool = True
    max_tokens: int | None = None
    temperature: float | None = None  # None: the model's default
    top_p: float | None = None
    seed: int | None = None
    controls: Controls = field(default_factory=Controls)
    n: int = 1
    json_object: bool = False
    json_schema: JsonObject | None = None


@dataclass
class ChatChoice:
    index: int
    text: str
    finish_reason: FinishReason
    tool_calls: list[FunctionCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None


@dataclass
class ChatResult:
    id: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    fingerprint: str


@dataclass(frozen=True)
class ChoiceText:
    """A piece of choice `index`'s text, as it is decided."""

    index: int
    text: str


@dataclass(frozen=True)
class ChoiceEnd:
    """Choice `index` is complete (its calls, finish reason and log probabilities are known)."""

    choice: ChatChoice


ChatEvent = ChoiceText | ChoiceEnd
