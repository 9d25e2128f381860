"""The Responses adapter's side of a turn (the core's Sink): the answer's text with citation
markers taken out, each a `file_citation` at its place, and each built-in round an output item
streamed as it runs.

Assistants show a citation as its marker in the text (【0:0†a.txt】) with the span it covers;
Responses show none: the annotation is `{file_id, filename, index}`, `index` being where the
marker was in the text as shown, the space before it gone too. Markers reach the sink whole
(the core holds a marker back until it closes), so each delta is cut where its annotations say;
when the turn can search, spaces ending a delta wait for the next (spaces ending the answer are
dropped).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import cast

from airlock.engine.core.items import Annotation, Builtin, BuiltinCall, Usage
from airlock.engine.core.sink import CodeDone, Produced, SearchDone
from airlock.service.response_commands import (
    BuiltinDone,
    BuiltinStarted,
    CodeStarted,
    ResponseEvent,
    TextDelta,
)
from airlock.store.ids import new_id
from airlock.store.records import ItemJson, JsonObject, JsonValue


class ResponseSink:
    def __init__(self, put: Callable[[ResponseEvent], None], message_id: str,
                 search_results: bool, cites: bool, *, code_outputs: bool = False,
                 container_id: str | None = None, keep: Keep | None = None):
        """`cites`: the turn may search, so its answer may carry markers. `container_id` and
        `keep` (storing what code made as the container's files): when it may run code."""
        self.put, self.message_id, self.search_results = put, message_id, search_results
        self.cites, self.code_outputs = cites, code_outputs
        self.container_id, self.keep = container_id, keep
        self._call_start = 0  # where this model call's text starts in `shown`
        self.shown = ""  # the message's text as the output shows it
        self.annotations: list[JsonObject] = []
        self.items: list[ItemJson] = []  # the built-in calls that ran, in order
        self._core = 0  # length of this model call's text as the core streamed it
        self._held = ""
        self._running: dict[str, ItemJson] = {}

    def text(self, delta: str, annotations: list[Annotation]) -> None:
        # Spaces that ended the last delta, held: a marker may follow them, and the space
        # before a marker goes with it ("it 【0:0†a.txt】." shows "it.").
        pieces: list[str] = [self._held]
        placed: list[JsonObject] = []
        at = 0
        for a in sorted(annotations, key=lambda a: a.start):
            if a.kind == "file_path":
                placed.append(self._file_link(a))
                continue
            start, end = a.start - self._core, a.end - self._core
            pieces = ["".join(pieces + [delta[at:start]]).rstrip(" ")]
            placed.append({"type": "file_citation", "file_id": a.file_id,
                           "filename": a.filename, "index": len(self.shown) + len(pieces[0])})
            at = max(at, end)
        visible = "".join(pieces + [delta[at:]])
        shown = visible.rstrip(" ") if self.cites else visible
        self._held = visible[len(shown):]
        self._core += len(delta)
        self.shown += shown
        self.annotations += placed
        self.put(TextDelta(self.message_id, shown, tuple(placed)))

    def _file_link(self, a: Annotation) -> JsonObject:
        """A sandbox:/mnt/data link to a file the code made, as a container_file_citation over
        the link's text (links come after their text, in the same model call's offsets; the
        text of a call that can also cite may be shifted by the markers taken out)."""
        start = self._call_start + a.start
        return {"type": "container_file_citation", "container_id": self.container_id,
                "file_id": a.file_id, "filename": posixpath.basename(a.text),
                "start_index": start, "end_index": start + (a.end - a.start)}

    def builtin_started(self, call_id: str, name: Builtin, usage: Usage) -> None:
        self._core = 0  # the next model call's text starts afresh
        self._call_start = len(self.shown)
        item: ItemJson
        if name == "file_search":
            item = {"id": new_id("file_search_call"), "type": "file_search_call",
                    "status": "in_progress", "queries": [], "results": None}
        else:
            item = {"id": new_id("code_interpreter_call"), "type": "code_interpreter_call",
                    "status": "in_progress", "code": "", "container_id": self.container_id,
                    "outputs": None}
        self._running[call_id] = item
        self.put(BuiltinStarted(dict(item)))

    def code_started(self, call_id: str, code: str) -> None:
        item = self._running[call_id]
        item["code"] = code
        self.put(CodeStarted(str(item["id"]), code))

    def keep_outputs(self, call_id: str, images: list[bytes], files: list[Produced]
                     ) -> tuple[list[str], dict[str, str]]:
        assert self.keep is not None
        return self.keep(call_id, images, files)

    def builtin_finished(self, call: BuiltinCall, done: SearchDone | CodeDone) -> None:
        running = self._running.pop(call.call_id)
        item: ItemJson
        if isinstance(done, CodeDone):
            outputs: list[JsonValue] | None = None
            if self.code_outputs:
                outputs = [{"type": "logs", "logs": done.logs}] if done.logs else []
                outputs += [{"type": "image", "url": _content_url(self.container_id, i)}
                            for i in done.images]
            item = {**running, "status": "completed", "code": done.code, "outputs": outputs}
        else:
            results: list[JsonValue] | None = None
            if self.search_results:
                results = [{"file_id": h.file_id, "filename": h.filename,
                            "score": round(h.score, 6), "text": h.text,
                            "attributes": cast(JsonObject, dict(h.attributes))}
                           for h in done.hits]
            queries: list[JsonValue] = list(done.queries)
            item = {**running, "status": "completed", "queries": queries, "results": results}
        self.items.append(item)
        self.put(BuiltinDone(item))

    def builtin_failed(self, call_id: str, name: Builtin, code: str) -> None:
        """No sandbox could run the code: the call ends failed, and so does the turn."""
        item = {**self._running.pop(call_id), "status": "failed", "code": code}
        self.items.append(item)
        self.put(BuiltinDone(item))


def _content_url(container_id: str | None, file_id: str) -> str:
    """Where an image the code made is downloaded (a path on this server's /v1)."""
    return f"/v1/containers/{container_id}/files/{file_id}/content"


# Stores what code made: (call id, images, files) -> (image ids, /mnt/data path -> file id).
Keep = Callable[[str, list[bytes], list[Produced]], tuple[list[str], dict[str, str]]]
