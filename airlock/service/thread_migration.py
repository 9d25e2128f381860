"""Threads become conversations (an airlock action: OpenAI ships no converter): a thread's
messages and run steps become a new conversation's items on the same store, in the order they
happened, and the thread stays as it was, readable through the Assistants API.

| thread | conversation item |
|---|---|
| user message (text parts) | `message` (user, `input_text`), same `msg_` id |
| assistant message | `message` (assistant, `output_text`), same id: each citation marker  |
|                   | taken out, its `file_citation` at `index`; a `sandbox:` link to a   |
|                   | file the code made gets a `container_file_citation`                 |
| function step | `function_call` + `function_call_output` (same `call_id`) |
| file_search step | `file_search_call` with its results |
| code_interpreter step | `code_interpreter_call` (code, logs and images) in a container made for the thread |

The files the thread's code made (images, written files) are copied into that container as
container files; the kernel's variables cannot move. Image parts of messages have no place in
Responses output messages: the images stay as the container's files. Runs' instructions and
tools are not items: a migrating app sends them as the response's `instructions`/`tools`, or
uses its assistant as the `prompt`.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from pathlib import Path
from typing import Any

from airlock.service import conversations
from airlock.service.containers import DEFAULT_MINUTES, Containers
from airlock.service.context import Context, off_loop
from airlock.service.paging import PageParams
from airlock.store import Store, blobs, containers, crud, files
from airlock.store.ids import new_id
from airlock.store.records import ContainerFileRow, ContainerRow, ConversationRow, ItemJson
from airlock.store.tables import Container, ContainerFile, Message, RunStep, Thread

_ALL = PageParams(limit=1_000_000, order="asc")
FROM_THREAD = "airlock_from_thread"


class ThreadMigration:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def migrate(self, thread_id: str) -> ConversationRow:
        return await off_loop(migrate, self.ctx.store, self.ctx.cfg.files_dir, thread_id)


def migrate(store: Store, files_dir: Path, thread_id: str) -> ConversationRow:
    """The new conversation holding `thread_id`'s history (blocking; the CLI calls it)."""
    with store.read_conn() as conn:
        thread = crud.get(conn, Thread, "thread", thread_id)
        messages, _ = crud.page(conn, Message, _ALL, thread_id=thread_id)
        steps, _ = crud.page(conn, RunStep, _ALL, thread_id=thread_id)
        made = _code_files(messages, steps)
        sources = {f: files.blob_path(conn, files_dir, f) for f in made
                   if files.find(conn, f) is not None}
    container: ContainerRow | None = None
    copies: dict[str, ContainerFileRow] = {}
    if sources or any(_calls(s, "code_interpreter") for s in steps):
        now = crud.now()
        container = ContainerRow(id=new_id("container"), created_at=now,
                                 name=f"from-{thread_id}", status=containers.RUNNING,
                                 expires_minutes=DEFAULT_MINUTES, last_active_at=now,
                                 memory_limit="1g")
        for file_id, (row, path) in sources.items():
            with open(path, "rb") as data:
                blob, size = blobs.write_blob(files_dir, data)
            copies[file_id] = Containers._file_row(container["id"], blob, size,
                                                   row["filename"], "assistant")
    items = _Items(container["id"] if container else None, copies).build(messages, steps)
    metadata = dict(thread["metadata"] or {})
    if len(metadata) < 16:
        metadata[FROM_THREAD] = thread_id
    try:
        with store.begin() as conn:
            if container is not None:
                crud.add(conn, Container, container)
                for copy in copies.values():
                    crud.add(conn, ContainerFile, copy)
            return conversations.create_with(conn, items, metadata)
    except BaseException:
        for copy in copies.values():
            blobs.discard(files_dir, copy["blob"])
        raise


def _calls(step: Any, kind: str) -> list[Any]:
    details = step["step_details"]
    return [c for c in details.get("tool_calls") or [] if c["type"] == kind]


def _code_files(messages: list[Any], steps: list[Any]) -> list[str]:
    """The Files the thread's code made: its images and the files its answers link."""
    found: list[str] = []
    for step in steps:
        for call in _calls(step, "code_interpreter"):
            for out in call["code_interpreter"].get("outputs") or []:
                if out["type"] == "image":
                    found.append(out["image"]["file_id"])
    for message in messages:
        for part in message["content"]:
            if part["type"] == "image_file":
                found.append(part["image_file"]["file_id"])
            for a in (part.get("text") or {}).get("annotations") or []:
                if a["type"] == "file_path":
                    found.append(a["file_path"]["file_id"])
    return list(dict.fromkeys(found))


class _Items:
    def __init__(self, container_id: str | None, copies: dict[str, ContainerFileRow]):
        self.container_id, self.copies = container_id, copies

    def build(self, messages: list[Any], steps: list[Any]) -> list[ItemJson]:
        """Messages in order; before each run's answer, that run's tool steps; tool steps of
        runs without an answer (ended on function calls) at the end."""
        by_run: dict[str, list[Any]] = defaultdict(list)
        for step in steps:
            if step["type"] == "tool_calls":
                by_run[step["run_id"]].append(step)
        out: list[ItemJson] = []
        for message in messages:
            if message["role"] == "assistant" and message["run_id"]:
                for step in by_run.pop(message["run_id"], []):
                    out += self._step(step)
            out.append(self._message(message))
        for left in by_run.values():
            for step in left:
                out += self._step(step)
        return out

    def _message(self, message: Any) -> ItemJson:
        role = message["role"]
        parts: list[Any] = []
        for part in message["content"]:
            if part["type"] != "text":
                continue  # images stay as the container's files
            if role == "user":
                parts.append({"type": "input_text", "text": part["text"]["value"]})
            else:
                text, annotations = self._text(part["text"]["value"],
                                               part["text"].get("annotations") or [])
                parts.append({"type": "output_text", "text": text,
                              "annotations": annotations, "logprobs": []})
        return {"id": message["id"], "type": "message", "role": role, "content": parts,
                "status": "completed" if message["status"] == "completed" else "incomplete"}

    def _text(self, value: str, annotations: list[Any]) -> tuple[str, list[Any]]:
        """The text without citation markers (each, and the space before it, taken out) and
        the annotations at their new places."""
        out, at, placed = "", 0, []
        for a in sorted(annotations, key=lambda a: a["start_index"]):
            start, end = a["start_index"], a["end_index"]
            if a["type"] == "file_citation":
                out = (out + value[at:start]).rstrip(" ")
                placed.append({"type": "file_citation",
                               "file_id": a["file_citation"]["file_id"],
                               "filename": _marker_filename(a["text"]), "index": len(out)})
                at = max(at, end)
            elif a["type"] == "file_path":
                copy = self.copies.get(a["file_path"]["file_id"])
                out += value[at:start]
                if copy is not None:
                    placed.append({"type": "container_file_citation",
                                   "container_id": self.container_id, "file_id": copy["id"],
                                   "filename": posixpath.basename(copy["container_path"]),
                                   "start_index": len(out), "end_index": len(out) + end - start})
                out += value[start:end]
                at = max(at, end)
        return out + value[at:], placed

    def _step(self, step: Any) -> list[ItemJson]:
        out: list[ItemJson] = []
        for call in step["step_details"].get("tool_calls") or []:
            kind = call["type"]
            item: dict[str, Any]
            if kind == "function":
                fn = call["function"]
                out.append({"id": new_id("function_call"), "type": "function_call",
                            "call_id": call["id"], "name": fn["name"],
                            "arguments": fn["arguments"], "status": "completed"})
                if fn.get("output") is not None:
                    out.append({"id": new_id("function_call_output"),
                                "type": "function_call_output", "call_id": call["id"],
                                "output": fn["output"], "status": "completed"})
            elif kind == "file_search":
                results = [{"file_id": r["file_id"], "filename": r.get("file_name"),
                            "score": r.get("score"), "attributes": {},
                            "text": "".join(c.get("text", "") for c in r.get("content") or [])}
                           for r in call["file_search"].get("results") or []]
                item = {"id": new_id("file_search_call"), "type": "file_search_call",
                        "status": "completed", "queries": [], "results": results}
                out.append(item)
            elif kind == "code_interpreter":
                ci = call["code_interpreter"]
                outputs: list[Any] = []
                for o in ci.get("outputs") or []:
                    if o["type"] == "logs":
                        outputs.append({"type": "logs", "logs": o["logs"]})
                    elif (copy := self.copies.get(o["image"]["file_id"])) is not None:
                        outputs.append({"type": "image", "url": (
                            f"/v1/containers/{self.container_id}/files/{copy['id']}/content")})
                item = {"id": new_id("code_interpreter_call"), "type": "code_interpreter_call",
                        "status": "completed", "code": ci.get("input") or "",
                        "container_id": self.container_id, "outputs": outputs}
                out.append(item)
        return out


def _marker_filename(marker: str) -> str:
    """【0:0†policy.txt】 -> policy.txt"""
    return marker.split("†", 1)[-1].rstrip("】") if "†" in marker else ""
