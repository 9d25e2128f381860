"""What a Chat Completions request asks for, and what it gets back: the service's types.

The HTTP layer builds a `ChatCommand` from the validated body (content parts already flattened
to text, unservable parts refused); the service answers with a `ChatResult`, or while streaming
with `ChoiceText` pieces and `ChoiceEnd`s, which the wire module renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from airlock.engine.core.items import Usage
from airlock.models.backend import TokenLogprob
from airlock.store.records import JsonObject as JsonObject  # the server names it too

ChatRole = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatMessage:
    role: ChatRole
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""  # role "tool": the call this answers


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    description: str | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None


@dataclass(frozen=True)
class ChatCommand:
    model: str
    messages: tuple[ChatMessage, ...]
    functions: tuple[FunctionSpec, ...] = ()
    tool_choice: str | dict[str, str] = "auto"  # "none" | "auto" | "required" | {"name": fn}
    parallel_tool_calls: bool = True
    max_tokens: int | None = None
    temperature: float | None = None  # None: the model's default
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    top_logprobs: int | None = None  # None: no log probabilities
    n: int = 1
    json_object: bool = False
    json_schema: JsonObject | None = None


@dataclass
class ChatChoice:
    index: int
    text: str
    finish_reason: FinishReason
    tool_calls: list[ToolCall] = field(default_factory=list)
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
