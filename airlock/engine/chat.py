"""The Chat Completions adapter on the turn core: one request, nothing stored.

The service gives a `TurnSpec` built from the request's messages (the core's items) and
settings; the core runs the turn as it runs a run's (prompt fitting, native tool formats,
grammars, the text gate, the loop guard, call guards), and the outcome is one choice. Chat
Completions has no built-in tools, so the core gets no Builtins and the sink only passes text on.
"""

from __future__ import annotations

from collections.abc import Callable

from airlock.engine.core.function_intent import Embed
from airlock.engine.core.items import Annotation, Builtin, BuiltinCall, Outcome, TurnSpec, Usage
from airlock.engine.core.sink import CodeDone, Produced, SearchDone
from airlock.engine.core.turn import TurnCore
from airlock.models.backend import ModelBackend


class ChatSink:
    def __init__(self, on_text: Callable[[str], None]):
        self.on_text = on_text

    def text(self, delta: str, annotations: list[Annotation]) -> None:
        if delta:
            self.on_text(delta)

    def builtin_started(self, call_id: str, name: Builtin, usage: Usage) -> None:
        raise AssertionError("Chat Completions offers no built-in tools")

    def code_started(self, call_id: str, code: str) -> None:
        raise AssertionError("Chat Completions offers no built-in tools")

    def keep_outputs(self, call_id: str, images: list[bytes], files: list[Produced]
                     ) -> tuple[list[str], dict[str, str]]:
        raise AssertionError("Chat Completions offers no built-in tools")

    def builtin_finished(self, call: BuiltinCall, done: SearchDone | CodeDone) -> None:
        raise AssertionError("Chat Completions offers no built-in tools")

    def builtin_failed(self, call_id: str, name: Builtin, code: str) -> None:
        raise AssertionError("Chat Completions offers no built-in tools")


def complete(backend: ModelBackend, spec: TurnSpec, on_text: Callable[[str], None],
             should_stop: Callable[[], bool], label: str, embed: Embed | None = None) -> Outcome:
    """One choice: the core's turn, its text passed to `on_text` as it is decided."""
    return TurnCore(backend, None, ChatSink(on_text), should_stop, label=label,
                    embed=embed).run(spec)
