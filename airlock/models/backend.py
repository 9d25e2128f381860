"""The model backend interface the run engine drives, whatever serves the tokens.

Implementations: `llama.LlamaBackend` (a GGUF in-process through llama-cpp-python),
`scripted.ScriptedBackend` (deterministic replies for app tests) and `remote.RemoteBackend` (a
model on an OpenAI-compatible chat-completions server: llama.cpp's, vLLM, Ollama).

Backends are not required to be thread-safe: the engine calls each one from a single worker
thread at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Controls:
    """Chat Completions' sampling controls, carried unchanged from the request to the backend.
    `stop`: the reply ends before any of these strings (finish "stop"); `logit_bias`: token id ->
    added to its logit (-100 bans, 100 forces); `top_logprobs`: None = no log probabilities, else
    how many alternatives per token."""

    stop: tuple[str, ...] = ()
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    top_logprobs: int | None = None


@dataclass
class TurnRequest:
    # [{"role": "system"|"user"|"assistant"|"tool", "content": str}], in prompt order. A run's tool
    # rounds are an assistant message with "tool_calls": [{"id", "name", "arguments"}] and one
    # {"role": "tool", "tool_call_id", "name", "content"} per call; the backend renders them (and
    # `tools`) through its template, or through models.function_prompt's generic text.
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    # Grammar-constrained decoding: the reply is JSON (json_object), or JSON matching this schema.
    json_object: bool = False
    json_schema: dict[str, Any] | None = None
    # Function tools the model may call: [{"name", "description", "parameters"}].
    tools: list[dict[str, Any]] = field(default_factory=list)
    # "none" | "auto" | "required" | {"name": function name}: what the model must do with tools.
    tool_choice: str | dict[str, str] = "auto"
    # True: a turn may call several tools at once; False: at most one.
    parallel_tool_calls: bool = True
    # The thread the turn belongs to: lets a backend keep per-thread state (KV prefixes, scripts).
    thread_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    controls: Controls = field(default_factory=Controls)
    # Calls' names, arguments and programs are decoded greedily (0); a second try at a program
    # that did not parse samples at this temperature instead, or it would write the same again.
    call_temperature: float = 0.0


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token: its text, bytes, log probability, and the likeliest alternatives
    (text, bytes, log probability)."""

    token: str
    bytes: list[int]
    logprob: float
    top: list[tuple[str, list[int], float]] = field(default_factory=list)


@dataclass
class TurnResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    # Prompt tokens whose evaluation was reused from an earlier turn (KV cache).
    cached_tokens: int = 0
    # Calls instead of (or before) text: [{"name", "arguments": JSON string valid for the schema}].
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    # With `Controls.top_logprobs` set: one per generated token of the text (backends that
    # cannot say leave it None).
    logprobs: list[TokenLogprob] | None = None


class ModelBackend(Protocol):
    name: str
    n_ctx: int

    def count_tokens(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = (),
                     tool_choice: Any = "none") -> int:
        """Tokens of the prompt these messages (and offered tools) render to, generation prompt
        included."""

    def generate(
        self,
        request: TurnRequest,
        on_text: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> TurnResult:
        """Generates one reply. `on_text` gets each decoded piece as soon as it exists;
        `should_stop` is polled between tokens, and a True ends generation as "cancelled"."""

    def close(self) -> None:
        """Releases the model."""
