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
import re
from pathlib import Path
from typing import BinaryIO

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
from airlock.store import Store, blobs, crud, files, kernel_homes
from airlock.store.ids import new_id
from airlock.store.tables import File, Message

log = logging.getLogger("airlock.code_interpreter")
MNT = "/mnt/data/"
# What the model reads back of the logs: a small model's context is short.
LOGS_FOR_MODEL = 2000
# ...and of everything else (notes on images and files): the whole of what it reads back stays
# under LOGS_FOR_MODEL + NOTES_FOR_MODEL characters, whatever the code did.
NOTES_FOR_MODEL = 2500
# A file name placed in /mnt/data as is: printable, no path separators, not "." or "..", and
# short enough for any file system; others are placed under the file's id.
_PLAIN_NAME = re.compile(r"[^\x00-\x1f\x7f/\\]{1,200}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
RESET_NOTE = ("[The Python session was restarted since the last call (idle too long or "
              "evicted): earlier variables are gone; files in /mnt/data remain.]")
MOVED_NOTE = ("[The Python session was restarted since the last call (the server that held "
              "it stopped): earlier variables and files written to /mnt/data are gone; the "
              "input files are in /mnt/data again.]")


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
        name = sandbox_name(file_id, row.filename)
        if name in taken:
            name = f"{file_id}-{name}"  # two files with one name: both stay reachable
        taken.add(name)
        out.append((file_id, name, row.path))
    return out


def sandbox_name(file_id: str, filename: str | None) -> str:
    """The name a file gets in /mnt/data: its filename's last component when that is a plain
    name, else its id (with the filename's extension, when it has a plain one): a name like
    `..`, `.`, one with a NUL or a newline, or one too long for the disk never fails a run."""
    name = posixpath.basename((filename or "").replace("\\", "/"))
    if _PLAIN_NAME.fullmatch(name) and name not in (".", "..") and name.strip():
        return name
    ext = _EXTENSION.search((filename or "").replace("\x00", ""))
    return file_id + (ext.group(0) if ext else "")


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
    moved = False
    if store.is_shared:
        # Replicas: this replica becomes the thread's kernel home. If another held it, that
        # replica is gone (live homes keep their threads' runs): the session starts afresh.
        with store.begin() as conn:
            moved = kernel_homes.move_in(conn, thread_id, box.replica) is not None
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
            file_id = _output_file(conn, box.files_dir, io.BytesIO(png), f"{call_id}-{i}.png")
            images.append(file_id)
            outputs.append({"type": "image", "image": {"file_id": file_id}})
        for name in ex.files:
            try:
                with sandbox.pool.open_file(thread_id, name) as f:  # streamed: no copy in memory
                    produced[MNT + name] = _output_file(conn, box.files_dir, f,
                                                        posixpath.basename(name))
            except (OSError, ValueError) as exc:  # gone or replaced since: not a file to return
                log.info("code_interpreter: %s not returned: %s", name, exc)
    for index, output in enumerate(outputs):
        publish("thread.run.step.delta", call_delta(step["id"], 0, {
            "type": "code_interpreter",
            "code_interpreter": {"outputs": [{"index": index, **output}]}}))
    call["code_interpreter"] = {"input": code, "outputs": outputs}
    run.params.tool_io[call_id] = ToolIO(
        name="code_interpreter", arguments=json.dumps({"code": code}),
        output=for_model(ex, images, produced, moved), images=images, files=produced)
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


def _output_file(conn: Connection, files_dir: Path, data: BinaryIO, filename: str) -> str:
    path, size = blobs.write_blob(files_dir, data)
    file_id: str = files.insert(conn, path=path, size=size, filename=filename,
                                purpose="assistants_output", expires_after_seconds=None)["id"]
    return file_id


def for_model(ex: Execution, images: list[str], produced: dict[str, str],
              moved: bool = False) -> str:
    parts = []
    if moved:
        parts.append(MOVED_NOTE)
    elif ex.state_reset:
        parts.append(RESET_NOTE)
    logs = ex.logs if len(ex.logs) <= LOGS_FOR_MODEL else (
        ex.logs[: LOGS_FOR_MODEL // 2] + "\n[...]\n" + ex.logs[-LOGS_FOR_MODEL // 2:])
    parts.append(logs.strip() or "(no output)")
    notes = []
    if ex.timed_out:
        notes.append("[The code was stopped: it ran past the time limit.]")
    if images:
        notes.append("[A chart was produced and is shown to the user.]" if len(images) == 1 else
                     f"[{len(images)} charts were produced and are shown to the user.]")
    room = NOTES_FOR_MODEL - sum(len(n) + 1 for n in notes)
    paths = list(produced)
    for i, path in enumerate(paths):
        note = f"[File saved: {path}. Link it as sandbox:{path}]"
        if len(note) + 1 > room - 80:  # keeps room for the line below
            notes.append(f"[{len(paths) - i} more files were saved in /mnt/data.]")
            break
        notes.append(note)
        room -= len(note) + 1
    return "\n".join(parts + notes)


def produced_of(run: RunRecord) -> tuple[list[str], dict[str, str]]:
    """Images and files this run's code made, for the answer's content and file_path links."""
    images: list[str] = []
    produced: dict[str, str] = {}
    for io_ in run.params.tool_io.values():
        images += io_.images
        produced.update(io_.files)
    return images, produced
