"""What the turn core takes and gives: typed items, the turn's spec, and its outcome.

An API generation's adapter (Assistants runs: engine/turn.py) turns its own objects into these:
a thread's messages and a run's answered tool rounds become items; a run's settings become the
spec. The core never sees a run, a thread or a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from airlock.models.backend import Controls, TokenLogprob
from airlock.store import records

Role = Literal["system", "developer", "user", "assistant"]
Builtin = Literal["file_search", "code_interpreter"]
BUILTIN_NAMES: tuple[Builtin, ...] = ("file_search", "code_interpreter")


# --- input items --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A message as the model reads it: content parts flattened to text (an image becomes a
    line naming it)."""

    role: Role
    text: str


@dataclass(frozen=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: str  # JSON, valid for the function's parameters


@dataclass(frozen=True)
class FunctionOutput:
    call_id: str
    output: str


@dataclass(frozen=True)
class Source:
    """A passage a file_search call returned, labelled for the model as 【n:i†filename】."""

    n: int  # which search of the turn (or run)
    i: int  # which result of that search
    file_id: str
    filename: str
    text: str
    score: float = 0.0
    attributes: records.Attributes = field(default_factory=dict, hash=False, compare=False)

    @property
    def marker(self) -> str:
        return f"【{self.n}:{self.i}†{self.filename}】"


class BuiltinCall(BaseModel):
    """A built-in tool call the engine ran, as the model saw it (what it wrote, what it read
    back), plus what later answers need: sources to cite, images and files the code made."""

    call_id: str = ""
    name: Builtin
    arguments: str = "{}"
    output: str = ""
    query: str | None = None  # file_search: the query actually searched
    sources: list[Source] = []
    images: list[str] = []  # code_interpreter: image file ids, as the adapter stored them
    files: dict[str, str] = {}  # code_interpreter: /mnt/data path -> file id


Item = Message | FunctionCall | FunctionOutput | BuiltinCall


# --- what the turn may do -----------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    def spec(self) -> dict[str, Any]:
        """The shape model backends take: what the client sent, nothing added."""
        out: dict[str, Any] = {"name": self.name}
        for key in ("description", "parameters", "strict"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class FileSearch:
    vector_store_ids: tuple[str, ...]
    max_num_results: int = 20
    score_threshold: float = 0.0
    filters: records.Filter | None = None


@dataclass(frozen=True)
class InputFile:
    """A file code_interpreter finds in /mnt/data: its id, name there, and bytes' blob path."""

    file_id: str
    name: str
    path: str


@dataclass(frozen=True)
class CodeInterpreter:
    kernel: str  # whose kernel: a thread's id (Assistants) or a container's
    files: tuple[InputFile, ...] = ()


# What the model must do with the offered tools: "none" | "auto" | "required" | {"name": tool}.
Choice = str | dict[str, str]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_p: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)  # top_k, min_p, repeat_penalty, seed
    controls: Controls = field(default_factory=Controls)  # Chat Completions' (models.backend)


@dataclass(frozen=True)
class OutputFormat:
    json_object: bool = False
    json_schema: dict[str, Any] | None = None

    @property
    def json(self) -> bool:
        return self.json_object or self.json_schema is not None


class TokenDetails(BaseModel):
    cached_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_token_details: TokenDetails = Field(default_factory=TokenDetails)

    @classmethod
    def of(cls, prompt: int, completion: int, cached: int) -> Usage:
        return cls(prompt_tokens=prompt, completion_tokens=completion,
                   total_tokens=prompt + completion,
                   prompt_token_details=TokenDetails(cached_tokens=cached))

    def plus(self, other: Usage | None) -> Usage:
        if other is None:
            return self
        return Usage.of(self.prompt_tokens + other.prompt_tokens,
                        self.completion_tokens + other.completion_tokens,
                        self.prompt_token_details.cached_tokens
                        + other.prompt_token_details.cached_tokens)

    def wire(self) -> records.Usage:
        return records.Usage(
            prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            prompt_token_details={"cached_tokens": self.prompt_token_details.cached_tokens})


@dataclass
class TurnSpec:
    """One turn: the model is called, built-in rounds run, until it answers or calls
    functions. `spent`: usage of the earlier turns of the same exchange (a run's), which
    counts against `max_output_tokens`; `used`: built-ins those turns called."""

    instructions: str
    items: list[Item]
    functions: list[Function] = field(default_factory=list)
    file_search: FileSearch | None = None
    code_interpreter: CodeInterpreter | None = None
    tool_choice: Choice = "auto"
    parallel_tool_calls: bool = True
    max_output_tokens: int | None = None
    max_prompt_tokens: int | None = None
    last_messages: int | None = None  # keep only the last N messages (and their rounds)
    truncate: bool = True  # drop the oldest messages to fit; False: too long is too long
    sampling: Sampling = field(default_factory=Sampling)
    output_format: OutputFormat = field(default_factory=OutputFormat)
    kv_key: str | None = None  # conversations sharing a key reuse each other's KV prefix
    spent: Usage | None = None
    max_tool_calls: int | None = None  # built-in calls this turn may make

    def builtins(self) -> list[Builtin]:
        out: list[Builtin] = []
        if self.file_search is not None:
            out.append("file_search")
        if self.code_interpreter is not None:
            out.append("code_interpreter")
        return out

    def used(self) -> list[str]:
        return [i.name for i in self.items if isinstance(i, BuiltinCall)]


# --- what the turn gives back -------------------------------------------------------------------


@dataclass(frozen=True)
class Annotation:
    """A span of the answer's text: a citation of a source (its marker), or a sandbox link to a
    file the code made."""

    kind: Literal["file_citation", "file_path"]
    text: str
    start: int
    end: int
    file_id: str
    quote: str = ""  # file_citation: the source sentence closest to the citing one
    filename: str = ""


Ending = Literal["completed", "incomplete", "failed", "cancelled", "calls", "too_long"]


@dataclass
class Outcome:
    """How a turn ended. `completed`/`incomplete` (the output token cap)/`cancelled`: an answer
    (possibly empty); `calls`: the model called functions (`calls`); `failed`: `error` says why
    (`code` as the APIs name it); `too_long`: the prompt could not fit (`tokens`, `budget`)."""

    ending: Ending
    usage: Usage  # every model call of the turn
    last: Usage | None = None  # the call that answered or called functions
    text: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    calls: list[FunctionCall] = field(default_factory=list)
    error: str | None = None
    code: str = "server_error"
    tokens: int = 0
    budget: int = 0
    answered: bool = False  # text (a message) was opened, even if empty
    logprobs: list[TokenLogprob] | None = None  # the answer's tokens, when asked for
