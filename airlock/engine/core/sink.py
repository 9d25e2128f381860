"""What an API generation's adapter does with a turn as it happens.

The core calls these on the worker thread, in order: text deltas of an answer (their
annotations included), and for each built-in round its start, its code (code_interpreter), the
outputs to keep (the adapter stores images and files its own way: Assistants Files, container
files) and its end. The adapter persists and publishes; the core decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from airlock.engine.core.items import Annotation, Builtin, BuiltinCall, Usage
from airlock.store.records import Attributes


@dataclass(frozen=True)
class Hit:
    """One file_search result."""

    file_id: str
    filename: str
    score: float
    text: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True)
class SearchDone:
    queries: list[str]
    hits: list[Hit]
    score_threshold: float


@dataclass(frozen=True)
class CodeDone:
    code: str
    logs: str
    images: list[str]  # ids the adapter gave the images (Sink.keep_outputs)


@dataclass(frozen=True)
class Produced:
    """A file the code wrote or changed in /mnt/data: its name there and how to read it."""

    name: str
    open: Callable[[], BinaryIO]


class Sink(Protocol):
    def text(self, delta: str, annotations: list[Annotation]) -> None:
        """A piece of the answer; the first opens it."""

    def builtin_started(self, call_id: str, name: Builtin, usage: Usage) -> None:
        """A built-in call begins; `usage`: the model call that made it."""

    def code_started(self, call_id: str, code: str) -> None:
        """The program code_interpreter is about to run."""

    def keep_outputs(self, call_id: str, images: list[bytes], files: list[Produced]
                     ) -> tuple[list[str], dict[str, str]]:
        """Stores what the code made; returns the images' ids and /mnt/data path -> file id."""

    def builtin_finished(self, call: BuiltinCall, done: SearchDone | CodeDone) -> None:
        """The call ran; `call` is what the model reads back."""

    def builtin_failed(self, call_id: str, name: Builtin, code: str) -> None:
        """The tool could not run at all (no sandbox); the turn fails next."""
