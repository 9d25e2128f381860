"""One code_interpreter round of a run: a tool_calls step, the code run in the thread's jailed
kernel, its outputs as step outputs and Files, and what the model reads back.

Events follow the contract's ordering (c): the step opens with an empty tool_calls list; deltas
carry the call's identity with empty input and outputs, then the input, then each output by
index; the completed step holds input and outputs. Images become Files (purpose
assistants_output) and `image` outputs; files the code created or changed in /mnt/data become
Files too, and the model is told to link them as sandbox:/mnt/data/<name>.
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from airlock.engine import files, tools
from airlock.engine.ids import new_id
from airlock.engine.sandbox import Sandbox
from airlock.engine.steps import Publish, call_delta, complete_builtin, open_tool_step
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import File, Message, RunStep

log = logging.getLogger("airlock.code_interpreter")
MNT = "/mnt/data/"
# What the model reads back of the logs: a small model's context is short.
LOGS_FOR_MODEL = 2000
RESET_NOTE = ("[The Python session was restarted since the last call (idle too long or "
              "evicted): earlier variables are gone; files in /mnt/data remain.]")


class ToolFailed(Exception):
    """The tool could not run at all (no sandbox): the run fails with this message."""


def input_files(conn: Connection, run: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(file_id, name in /mnt/data, blob path) of the files code_interpreter gets: the
    assistant's, the thread's (or the run's override) and code_interpreter attachments."""
    ids = [i for r in tools.resources(conn, run, "code_interpreter") for i in r.get("file_ids", [])]
    m = crud.table_of(Message)
    for (attachments,) in conn.execute(select(m.c.attachments).where(
            m.c.thread_id == run["thread_id"]).order_by(m.c.seq)).all():
        ids += [a["file_id"] for a in attachments or []
                if any(t["type"] == "code_interpreter" for t in a["tools"])]
    f = crud.table_of(File)
    rows = {r.id: r for r in conn.execute(select(f.c.id, f.c.filename, f.c.path).where(
        f.c.id.in_(set(ids)))).all()} if ids else {}
    out, taken = [], set()
    for file_id in dict.fromkeys(ids):
        row = rows.get(file_id)
        if row is None:
            continue
        name = posixpath.basename(row.filename.replace("\\", "/")) or file_id
        if name in taken:
            name = f"{file_id}-{name}"  # two files with one name: both stay reachable
        taken.add(name)
        out.append((file_id, name, row.path))
    return out


def run_round(store: Store, sandbox: Sandbox, files_dir: Path, publish: Publish,
              run: dict[str, Any], call: dict[str, str], usage: dict[str, Any]) -> None:
    """Runs the code and stores the step; updates run["params"]["tool_io"]."""
    thread_id = run["thread_id"]
    code = code_of(call["arguments"])
    call_id = new_id("call")
    step = open_tool_step(store, publish, run, usage)
    with store.read_conn() as conn:
        inputs = input_files(conn, run)
    publish("thread.run.step.delta", call_delta(step["id"], 0, {
        "id": call_id, "type": "code_interpreter",
        "code_interpreter": {"input": "", "outputs": []}}))
    publish("thread.run.step.delta", call_delta(step["id"], 0, {
        "type": "code_interpreter", "code_interpreter": {"input": code}}))
    details = {"type": "tool_calls", "tool_calls": [{
        "id": call_id, "type": "code_interpreter",
        "code_interpreter": {"input": code, "outputs": []}}]}
    if sandbox.refusal:
        _store_details(store, step["id"], details)
        raise ToolFailed(sandbox.refusal)
    from airlock.tools.code_interpreter import SandboxUnavailable

    try:
        _place(sandbox, files_dir, thread_id, inputs)
        ex = sandbox.pool.execute(thread_id, code)
    except SandboxUnavailable as exc:
        _store_details(store, step["id"], details)
        raise ToolFailed(str(exc)) from exc
    outputs: list[dict[str, Any]] = []
    if ex.logs:
        outputs.append({"type": "logs", "logs": ex.logs})
    images, produced = [], {}
    with store.begin() as conn:
        for i, png in enumerate(ex.images):
            file_id = _output_file(conn, files_dir, png, f"{call_id}-{i}.png")
            images.append(file_id)
            outputs.append({"type": "image", "image": {"file_id": file_id}})
        for name in ex.files:
            data = sandbox.pool.read_file(thread_id, name)
            produced[MNT + name] = _output_file(conn, files_dir, data, posixpath.basename(name))
    for index, output in enumerate(outputs):
        publish("thread.run.step.delta", call_delta(step["id"], 0, {
            "type": "code_interpreter",
            "code_interpreter": {"outputs": [{"index": index, **output}]}}))
    details["tool_calls"][0]["code_interpreter"]["outputs"] = outputs
    tool_io = dict(run["params"].get("tool_io") or {})
    tool_io[call_id] = {
        "name": "code_interpreter", "arguments": json.dumps({"code": code}),
        "output": for_model(ex, images, produced), "images": images, "files": produced,
    }
    complete_builtin(store, publish, run, step["id"], details["tool_calls"], tool_io)


def code_of(arguments: str) -> str:
    """The model's code: the "code" of its JSON arguments (or the raw text if it wrote none)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("code"), str):
        return value["code"]
    return arguments


def _place(sandbox: Sandbox, files_dir: Path, thread_id: str,
           inputs: list[tuple[str, str, str]]) -> None:
    placed = sandbox.placed.setdefault(thread_id, {})
    workdir = sandbox.workdir(thread_id)
    for file_id, name, path in inputs:
        if placed.get(name) == file_id and (workdir / name).exists():
            continue  # already there; the code may have changed it since, which it may
        sandbox.pool.write_file(thread_id, name, (files_dir / path).read_bytes())
        placed[name] = file_id


def _output_file(conn: Connection, files_dir: Path, data: bytes, filename: str) -> str:
    path, size = files.write_blob(files_dir, io.BytesIO(data))
    return files.create(conn, path=path, size=size, filename=filename,
                        purpose="assistants_output", expires_after_seconds=None)["id"]


def _store_details(store: Store, step_id: str, details: dict[str, Any]) -> None:
    with store.begin() as conn:
        crud.change(conn, RunStep, step_id, {"step_details": details})


def for_model(ex: Any, images: list[str], produced: dict[str, str]) -> str:
    parts = []
    if ex.state_reset:
        parts.append(RESET_NOTE)
    logs = ex.logs if len(ex.logs) <= LOGS_FOR_MODEL else (
        ex.logs[: LOGS_FOR_MODEL // 2] + "\n[...]\n" + ex.logs[-LOGS_FOR_MODEL // 2:])
    parts.append(logs.strip() or "(no output)")
    if ex.timed_out:
        parts.append("[The code was stopped: it ran past the time limit.]")
    for _ in images:
        parts.append("[A chart was produced and is shown to the user.]")
    for path in produced:
        parts.append(f"[File saved: {path}. Link it as sandbox:{path}]")
    return "\n".join(parts)


def produced_of(run: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Images and files this run's code made, for the answer's content and file_path links."""
    images: list[str] = []
    produced: dict[str, str] = {}
    for io_ in (run["params"].get("tool_io") or {}).values():
        images += io_.get("images") or []
        produced.update(io_.get("files") or {})
    return images, produced
