"""The text answer of one model call: its message_creation step and message, the streamed
deltas, and the content stored at the end.

The step and message are created when the first text arrives (a turn that only calls tools
has neither). When the run has sources to cite or files its code made, the text streams
through `Citations`, which decides annotations while streaming, so the deltas always add up to
the final message. A `LoopGuard` in front of that drops sentences the reply repeats and
stops a reply that loops. Partial text reaches the store every PERSIST_EVERY_S, so clients that
poll see progress.
"""

from __future__ import annotations

import time
from typing import Any

from airlock.engine.citations import Citations
from airlock.engine.loop_guard import LoopGuard
from airlock.engine.rounds.steps import Publish, new_step
from airlock.engine.run_state import RunRecord
from airlock.store import Store, crud
from airlock.store.ids import new_id
from airlock.store.tables import Message, RunStep

PERSIST_EVERY_S = 0.5


class Reply:
    def __init__(self, store: Store, publish: Publish, run: RunRecord,
                 citations: Citations | None, images: list[str], produced: dict[str, str],
                 guard: LoopGuard | None):
        self.store, self.publish, self.run = store, publish, run
        self.citations, self.guard = citations, guard
        # What this run's code made: image File ids, and /mnt/data paths -> File ids.
        self.images, self.produced = images, produced
        self.step: dict[str, Any] | None = None
        self.message: dict[str, Any] | None = None
        self._pieces: list[str] = []  # text streamed so far
        self._last_persist = time.monotonic()

    @property
    def message_id(self) -> str:
        assert self.message is not None
        message_id: str = self.message["id"]
        return message_id

    def on_text(self, piece: str) -> None:
        """The model backend's callback for each decoded piece."""
        if self.guard is not None:
            piece = self.guard.feed(piece)
            if not piece:
                return
        self._text(piece)

    def _text(self, piece: str) -> None:
        self.open()
        if self.citations is None:
            self._delta(piece, [])
        else:
            for text, annotations in self.citations.feed(piece):
                self._delta(text, annotations)
        if time.monotonic() - self._last_persist >= PERSIST_EVERY_S:
            self._last_persist = time.monotonic()
            # Not durable: partial text was never acknowledged as stored; the run's ending
            # writes the whole text durably (docs/deployment.md).
            with self.store.statement(durable=False) as conn:
                crud.change(conn, Message, self.message_id, {"content": self.content()})

    def end_of_text(self) -> None:
        """Generation ended: text the guard and the citations held back streams now."""
        if self.guard is not None and (tail := self.guard.finish()):
            self._text(tail)
        if self.citations is not None and self.message is not None:
            for text, annotations in self.citations.finish():
                self._delta(text, annotations)

    def open(self) -> None:
        if self.message is not None:
            return
        run, now = self.run, crud.now()
        message_id = new_id("message")
        step = new_step(run, None, {"type": "message_creation",
                                    "message_creation": {"message_id": message_id}})
        message = {
            "id": message_id, "thread_id": run.thread_id, "created_at": now,
            "role": "assistant", "content": [], "status": "in_progress",
            "incomplete_details": None, "completed_at": None, "incomplete_at": None,
            "assistant_id": run.assistant_id, "run_id": run.id, "attachments": [],
            "metadata": {},
        }
        # One statement, not durable: a database crash before the run's durable ending may
        # lose the pair, and then that ending fails the run (run_state.finish_turn).
        with self.store.statement(durable=False) as conn:
            crud.add_all(conn, [(RunStep, step), (Message, message)])
        self.step, self.message = step, message
        self.publish("thread.run.step.created", step)
        self.publish("thread.run.step.in_progress", step)
        self.publish("thread.message.created", message)
        self.publish("thread.message.in_progress", message)

    def content(self) -> list[dict[str, Any]]:
        """The content as streamed so far (with citations), then the images this run's code
        made."""
        if self.citations is not None:
            text = self.citations.content()
        else:
            text = [{"type": "text", "text": {"value": "".join(self._pieces), "annotations": []}}]
        return text + [{"type": "image_file", "image_file": {"file_id": f}} for f in self.images]

    def stream_outputs(self) -> None:
        """After the text: file_path annotations for sandbox links to files the code made, and
        the code's images as image_file parts (indexes after the text's)."""
        if self.citations is not None and self.produced:
            links = self.citations.link_files(self.produced)
            if links:
                self._delta("", links)
        if self.images and not self._pieces:
            self._delta("", [])  # the text part is index 0, even if empty
        for i, file_id in enumerate(self.images, start=1):
            self.publish("thread.message.delta", {"id": self.message_id, "index": i, "part": {
                "type": "image_file", "image_file": {"file_id": file_id}}})

    def _delta(self, text: str, annotations: list[dict[str, Any]]) -> None:
        self._pieces.append(text)
        data: dict[str, Any] = {"id": self.message_id, "value": text}
        if annotations:
            data["annotations"] = annotations
        self.publish("thread.message.delta", data)
