"""One code_interpreter round of a run: a tool_calls step, the code run in the thread's jailed
kernel, its outputs as step outputs and Files, and what the model reads back.

Events follow the stream ordering for built-in tools (docs/wire/streaming.md): the step opens
with an empty tool_calls list; deltas carry the call's identity with empty input and outputs,
then the input, then each output by index; the completed step holds input and outputs. Images
become Files (purpose assistants_output) and `image` outputs; files the code created or
changed in /mnt/data become Files too, and the model is told to link them as
sandbox:/mnt/data/<name>.
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
from pathlib import Path

from sqlalchemy import Connection, select

from airlock.engine.rounds.steps import (
    Publish,
    call_delta,
    complete_builtin,
    open_tool_step,
    set_calls,
)
from airlock.engine.rounds.toolbox import Toolbox, resources
from airlock.engine.run_state import RunRecord, ToolIO, Usage
from airlock.engine.sandbox import Execution, Sandbox, SandboxUnavailable
from airlock.store import Store, blobs, crud, files
from airlock.store.ids import new_id
from airlock.store.tables import File, Message

log = logging.getLogger("airlock.code_interpreter")
MNT = "/mnt/data/"
# What the model reads back of the logs: a small model's context is short.
LOGS_FOR_MODEL = 2000
RESET_NOTE = ("[The Python session was restarted since the last call (idle too long or "
              "evicted): earlier variables are gone; files in /mnt/data remain.]")


class ToolFailed(Exception):
    """The tool could not run at all (no sandbox): the run fails with this message."""


def input_files(conn: Connection, run: RunRecord) -> list[tuple[str, str, str]]:
    """(file_id, name in /mnt/data, blob path) of the files code_interpreter gets: the
    assistant's, the thread's (or the run's override) and code_interpreter attachments."""
    ids = [i for r in resources(conn, run, "code_interpreter") for i in r.get("file_ids", [])]
    m = crud.table_of(Message)
    for (attachments,) in conn.execute(select(m.c.attachments).where(
            m.c.thread_id == run.thread_id).order_by(m.c.seq)).all():
        ids += [a["file_id"] for a in attachments or []
                if any(t["type"] == "code_interpreter" for t in a["tools"])]
    f = crud.table_of(File)
    rows = {r.id: r for r in conn.execute(select(f.c.id, f.c.filename, f.c.path).where(
        f.c.id.in_(set(ids)), files.live())).all()} if ids else {}
    out: list[tuple[str, str, str]] = []
    taken: set[str] = set()
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


def input_paths(conn: Connection, run: RunRecord) -> list[str]:
    """Where the run's input files appear in the sandbox, told to the model."""
    return [MNT + name for _, name, _ in input_files(conn, run)]


def run_round(store: Store, box: Toolbox, publish: Publish, run: RunRecord,
              arguments: str, usage: Usage) -> None:
    """Runs the code and stores the step; the outputs join the run's tool_io."""
    sandbox = box.sandbox
    thread_id = run.thread_id
    code = code_of(arguments)
    call_id = new_id("call")
    step = open_tool_step(store, publish, run, usage)
    with store.read_conn() as conn:
        inputs = input_files(conn, run)
    publish("thread.run.step.delta", call_delta(step["id"], 0, {
        "id": call_id, "type": "code_interpreter",
        "code_interpreter": {"input": "", "outputs": []}}))
    publish("thread.run.step.delta", call_delta(step["id"], 0, {
        "type": "code_interpreter", "code_interpreter": {"input": code}}))
    call = {"id": call_id, "type": "code_interpreter",
            "code_interpreter": {"input": code, "outputs": []}}
    if sandbox.refusal:
        set_calls(store, step["id"], [call])
        raise ToolFailed(sandbox.refusal)
    try:
        _place(sandbox, box.files_dir, thread_id, inputs)
        ex = sandbox.pool.execute(thread_id, code)
    except SandboxUnavailable as exc:
        set_calls(store, step["id"], [call])
        raise ToolFailed(str(exc)) from exc
    outputs: list[dict[str, object]] = []
    if ex.logs:
        outputs.append({"type": "logs", "logs": ex.logs})
    images: list[str] = []
    produced: dict[str, str] = {}
    with store.begin() as conn:
        for i, png in enumerate(ex.images):
            file_id = _output_file(conn, box.files_dir, png, f"{call_id}-{i}.png")
            images.append(file_id)
            outputs.append({"type": "image", "image": {"file_id": file_id}})
        for name in ex.files:
            data = sandbox.pool.read_file(thread_id, name)
            produced[MNT + name] = _output_file(conn, box.files_dir, data, posixpath.basename(name))
    for index, output in enumerate(outputs):
        publish("thread.run.step.delta", call_delta(step["id"], 0, {
            "type": "code_interpreter",
            "code_interpreter": {"outputs": [{"index": index, **output}]}}))
    call["code_interpreter"] = {"input": code, "outputs": outputs}
    run.params.tool_io[call_id] = ToolIO(
        name="code_interpreter", arguments=json.dumps({"code": code}),
        output=for_model(ex, images, produced), images=images, files=produced)
    complete_builtin(store, publish, run, step["id"], [call])


def code_of(arguments: str) -> str:
    """The model's code: the "code" of its JSON arguments (or the raw text if it wrote none)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    code = value.get("code") if isinstance(value, dict) else None
    return code if isinstance(code, str) else arguments


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
    path, size = blobs.write_blob(files_dir, io.BytesIO(data))
    file_id: str = files.insert(conn, path=path, size=size, filename=filename,
                                purpose="assistants_output", expires_after_seconds=None)["id"]
    return file_id


def for_model(ex: Execution, images: list[str], produced: dict[str, str]) -> str:
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


def produced_of(run: RunRecord) -> tuple[list[str], dict[str, str]]:
    """Images and files this run's code made, for the answer's content and file_path links."""
    images: list[str] = []
    produced: dict[str, str] = {}
    for io_ in run.params.tool_io.values():
        images += io_.images
        produced.update(io_.files)
    return images, produced
