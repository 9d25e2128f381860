"""The Assistants adapter on the turn core: one claimed run's turn.

The run's settings, its thread's messages and its answered tool rounds become a `TurnSpec`
(core.items); the core decides, and `RunSink` shows it the Assistants way: a message_creation
step and a message for the answer (deltas, citations as file_citation annotations, the code's
images as image_file parts), a tool_calls step per built-in round (code_interpreter images and
files as Files), a tool_calls step and `requires_action` when the model calls functions. Every
status change goes through `run_state`.
"""

from __future__ import annotations

import io
import logging
import posixpath
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from airlock.engine import formats, run_state
from airlock.engine.core.builtins import Builtins, Toolbox, input_files
from airlock.engine.core.items import (
    Annotation,
    Builtin,
    BuiltinCall,
    CodeInterpreter,
    FileSearch,
    Function,
    FunctionCall,
    FunctionOutput,
    Item,
    Message,
    Outcome,
    Sampling,
    TurnSpec,
    Usage,
)
from airlock.engine.core.sink import CodeDone, Produced, SearchDone
from airlock.engine.core.turn import TurnCore
from airlock.engine.events import Event, EventData, Hub, MessageDelta, ToolCallDelta
from airlock.engine.rounds.steps import (
    call_delta,
    complete_builtin,
    new_step,
    open_tool_step,
    set_calls,
)
from airlock.engine.run_state import RunRecord, RunStatus
from airlock.models.backend import ModelBackend
from airlock.store import Store, blobs, crud, files, records
from airlock.store.ids import new_id
from airlock.store.records import RequiredAction, ToolCallDetail
from airlock.store.tables import Assistant, File, RunStep, Thread
from airlock.store.tables import Message as MessageRow

log = logging.getLogger("airlock.engine")
SHUTDOWN = "The server shut down while this run was active; create the run again."
RANKER = "default_2024_08_21"
# Partial text reaches the store this often, so clients that poll see progress.
PERSIST_EVERY_S = 0.5


class Turn:
    def __init__(self, store: Store, hub: Hub, backend: ModelBackend, run: RunRecord,
                 should_stop: Callable[[], bool], toolbox: Toolbox,
                 sampling: dict[str, float] | None = None):
        self.store, self.hub, self.backend, self.toolbox = store, hub, backend, toolbox
        self.run = run
        self.should_stop = should_stop
        # The model's sampling defaults beyond temperature and top_p (top_k, min_p,
        # repeat_penalty): the backend's `extra`.
        self.sampling = sampling or {}

    def publish(self, name: str, data: EventData) -> None:
        self.hub.publish(self.run.id, name, data)

    def publish_all(self, events: list[Event]) -> None:
        self.hub.publish_all(self.run.id, events)

    def execute(self) -> None:
        run = self.run
        self.publish("thread.run.in_progress", run.row)
        with self.store.read_conn() as conn:
            spec = run_spec(conn, run, self.sampling)
        sink = RunSink(self.store, self.publish, run, self.toolbox)
        core = TurnCore(self.backend, Builtins(self.store, self.toolbox), sink, self.should_stop,
                        label=f"run {run.id}", embed=self.toolbox.embed)
        base = run.params.usage
        outcome = core.run(spec)
        if outcome.usage.total_tokens:
            run.params.usage = outcome.usage.plus(base)  # the built-in rounds' usage included
        if outcome.ending == "calls":
            self._require_action(outcome)
        elif outcome.ending == "too_long":
            self._prompt_too_long(outcome)
        elif outcome.ending == "failed" and outcome.last is None:
            # The model or a tool broke: the message, if any, keeps what streamed.
            self._close_failed(sink, outcome.error or "The turn failed.")
        else:
            self._close_reply(sink, outcome)

    # --- endings ---------------------------------------------------------------------------------

    def _close_reply(self, sink: RunSink, outcome: Outcome) -> None:
        sink.open()
        sink.stream_images()
        last = outcome.last or Usage()
        ending, fields = RunStatus.COMPLETED, dict[str, object]()
        if outcome.ending == "cancelled":
            # Stopped without a cancel request (those mark the run cancelling): a shutdown.
            ending = RunStatus.FAILED
            fields = {"last_error": {"code": "server_error", "message": SHUTDOWN}}
        elif outcome.ending == "incomplete":
            ending = RunStatus.INCOMPLETE
            fields = {"incomplete_details": {"reason": "max_completion_tokens"}}
        elif outcome.ending == "failed":
            ending = RunStatus.FAILED
            fields = {"last_error": {"code": "server_error",
                                     "message": outcome.error or "The reply failed."}}
        assert sink.step is not None
        usage = self.run.params.usage or last
        # The ending closes the message and step to match (writing the final content and the
        # usage as it does), and says so in events: one statement unless a cancel arrived or
        # the run ended meanwhile.
        message: run_state.Write = (sink.message_id, {"content": sink.content()})
        step: run_state.Write = (sink.step["id"], {"usage": last.wire()})
        with self.store.statement() as conn:
            events = run_state.try_finish_turn(conn, self.run, ending, message=message,
                                               step=step, usage=usage.wire(), **fields)
        if events is None:
            with self.store.begin() as conn:
                events = run_state.finish_turn(conn, self.run, ending, message=message,
                                               step=step, usage=usage.wire(), **fields)
        self.publish_all(events)

    def _close_failed(self, sink: RunSink, error: str) -> None:
        """The message keeps the text streamed so far: a stream's final snapshot must hold it."""
        if sink.message is not None:
            with self.store.begin() as conn:
                crud.change(conn, MessageRow, sink.message_id, {"content": sink.content()})
        self._fail(error)

    def _fail(self, error: str) -> None:
        with self.store.begin() as conn:
            events = run_state.fail(conn, self.run.id, error)
        self.publish_all(events)

    def _require_action(self, outcome: Outcome) -> None:
        """A tool_calls step, then the run waits for the client's outputs (stream ordering for
        function calls, docs/wire/streaming.md)."""
        run, usage = self.run, outcome.last or Usage()
        calls: list[ToolCallDetail] = [
            {"id": c.call_id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments, "output": None}}
            for c in outcome.calls]
        step = open_tool_step(self.store, self.publish, run, usage)
        required: RequiredAction = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
            for c in calls]}}
        with self.store.begin() as conn:
            crud.change(conn, RunStep, step["id"],
                        {"step_details": {"type": "tool_calls", "tool_calls": calls}})
            events = run_state.require_action(conn, run, required)
        for i, call in enumerate(calls):
            # Identity fields once, then the arguments: the SDKs concatenate repeated strings.
            self.publish("thread.run.step.delta", call_delta(step["id"], i, {
                "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": "", "output": None}}))
            self.publish("thread.run.step.delta", call_delta(step["id"], i, {
                "type": "function", "function": {"arguments": call["function"]["arguments"]}}))
        self.publish_all(events)

    def _prompt_too_long(self, outcome: Outcome) -> None:
        cap = self.run.max_prompt_tokens
        with self.store.begin() as conn:
            if cap is not None and outcome.tokens > cap:
                events = run_state.finish_turn(conn, self.run, RunStatus.INCOMPLETE,
                                               incomplete_details={"reason": "max_prompt_tokens"})
            else:
                events = run_state.fail(
                    conn, self.run.id, f"The newest message alone does not fit the model's "
                    f"context ({outcome.tokens} tokens, room for {outcome.budget}).",
                    code="invalid_prompt")
        self.publish_all(events)


class RunSink:
    """The core's turn, shown as Assistants steps, messages and events."""

    def __init__(self, store: Store, publish: Callable[[str, EventData], None],
                 run: RunRecord, toolbox: Toolbox):
        self.store, self.publish, self.run, self.box = store, publish, run, toolbox
        self.step: records.StepRow | None = None  # the answer's message_creation step
        self.message: records.MessageRow | None = None
        self._text: list[str] = []
        self._annotations: list[Annotation] = []
        self._last_persist = time.monotonic()
        self._tool_step: records.StepRow | None = None
        self._code = ""

    @property
    def message_id(self) -> str:
        assert self.message is not None
        message_id: str = self.message["id"]
        return message_id

    # --- the answer ------------------------------------------------------------------------------

    def text(self, delta: str, annotations: list[Annotation]) -> None:
        self.open()
        if not delta and not annotations:
            return
        first = len(self._annotations)
        self._text.append(delta)
        self._annotations += annotations
        data: MessageDelta = {"id": self.message_id, "value": delta}
        if annotations:
            data["annotations"] = [annotation_wire(a, first + k)
                                   for k, a in enumerate(annotations)]
        self.publish("thread.message.delta", data)
        if time.monotonic() - self._last_persist >= PERSIST_EVERY_S:
            self._last_persist = time.monotonic()
            # Not durable: partial text was never acknowledged as stored; the run's ending
            # writes the whole text durably (docs/deployment.md).
            with self.store.statement(durable=False) as conn:
                crud.change(conn, MessageRow, self.message_id, {"content": self.content()})

    def open(self) -> None:
        if self.message is not None:
            return
        run, now = self.run, crud.now()
        message_id = new_id("message")
        step = new_step(run, None, {"type": "message_creation",
                                    "message_creation": {"message_id": message_id}})
        message: records.MessageRow = {
            "id": message_id, "thread_id": run.thread_id, "created_at": now,
            "role": "assistant", "content": [], "status": "in_progress",
            "incomplete_details": None, "completed_at": None, "incomplete_at": None,
            "assistant_id": run.assistant_id, "run_id": run.id, "attachments": [],
            "metadata": {},
        }
        # One statement, not durable: a database crash before the run's durable ending may
        # lose the pair, and then that ending fails the run (run_state.finish_turn).
        with self.store.statement(durable=False) as conn:
            crud.add_all(conn, [(RunStep, step), (MessageRow, message)])
        self.step, self.message = step, message
        self.publish("thread.run.step.created", step)
        self.publish("thread.run.step.in_progress", step)
        self.publish("thread.message.created", message)
        self.publish("thread.message.in_progress", message)

    def images(self) -> list[str]:
        return [f for io_ in self.run.params.tool_io.values() for f in io_.images]

    def content(self) -> list[records.ContentPart]:
        """The content as streamed so far (with its annotations), then the images this run's
        code made."""
        text: records.ContentPart = {"type": "text", "text": {
            "value": "".join(self._text), "annotations": [
            annotation_wire(a) for a in self._annotations]}}
        return [text] + [{"type": "image_file", "image_file": {"file_id": f}}
                         for f in self.images()]

    def stream_images(self) -> None:
        """After the text: the code's images as image_file parts (indexes after the text's)."""
        images = self.images()
        if images and not self._text:
            self.publish("thread.message.delta", {"id": self.message_id, "value": ""})
        for i, file_id in enumerate(images, start=1):
            self.publish("thread.message.delta", {"id": self.message_id, "index": i, "part": {
                "type": "image_file", "image_file": {"file_id": file_id}}})

    # --- built-in rounds -------------------------------------------------------------------------

    def builtin_started(self, call_id: str, name: Builtin, usage: Usage) -> None:
        self.run.params.usage = usage.plus(self.run.params.usage)
        step = open_tool_step(self.store, self.publish, self.run, usage)
        self._tool_step = step
        opening: ToolCallDelta = {"id": call_id, "type": name}
        if name == "file_search":
            opening["file_search"] = {}
        else:
            opening["code_interpreter"] = {"input": "", "outputs": []}
        self.publish("thread.run.step.delta", call_delta(step["id"], 0, opening))

    def code_started(self, call_id: str, code: str) -> None:
        assert self._tool_step is not None
        self._code = code
        self.publish("thread.run.step.delta", call_delta(self._tool_step["id"], 0, {
            "type": "code_interpreter", "code_interpreter": {"input": code}}))

    def keep_outputs(self, call_id: str, images: list[bytes], files_: list[Produced]
                     ) -> tuple[list[str], dict[str, str]]:
        """Images and the files the code made become Files (purpose assistants_output)."""
        image_ids: list[str] = []
        produced: dict[str, str] = {}
        with self.store.begin() as conn:
            for i, png in enumerate(images):
                image_ids.append(self._output_file(conn, io.BytesIO(png), f"{call_id}-{i}.png"))
            for f in files_:
                try:
                    with f.open() as data:  # streamed: no copy in memory
                        produced["/mnt/data/" + f.name] = self._output_file(
                            conn, data, posixpath.basename(f.name))
                except (OSError, ValueError) as exc:  # gone or replaced: not a file to return
                    log.info("code_interpreter: %s not returned: %s", f.name, exc)
        return image_ids, produced

    def _output_file(self, conn: Connection, data: Any, filename: str) -> str:
        path, size = blobs.write_blob(self.box.files_dir, data)
        file_id: str = files.insert(conn, path=path, size=size, filename=filename,
                                    purpose="assistants_output", expires_after_seconds=None)["id"]
        return file_id

    def builtin_finished(self, call: BuiltinCall, done: SearchDone | CodeDone) -> None:
        step = self._tool_step
        assert step is not None
        wire: records.ToolCallDetail
        if isinstance(done, SearchDone):
            wire = {"id": call.call_id, "type": "file_search", "file_search": {
                "ranking_options": {"ranker": RANKER, "score_threshold": done.score_threshold},
                "results": [{"file_id": h.file_id, "file_name": h.filename, "score": h.score,
                             "content": [{"type": "text", "text": h.text}]}
                            for h in done.hits]}}
        else:
            outputs: list[records.JsonObject] = []
            if done.logs:
                outputs.append({"type": "logs", "logs": done.logs})
            outputs += [{"type": "image", "image": {"file_id": f}} for f in done.images]
            for index, output in enumerate(outputs):
                self.publish("thread.run.step.delta", call_delta(step["id"], 0, {
                    "type": "code_interpreter",
                    "code_interpreter": {"outputs": [{"index": index, **output}]}}))
            wire = {"id": call.call_id, "type": "code_interpreter",
                    "code_interpreter": {"input": done.code, "outputs": [*outputs]}}
        self.run.params.tool_io[call.call_id] = call
        complete_builtin(self.store, self.publish, self.run, step["id"], [wire])
        self._tool_step = None

    def builtin_failed(self, call_id: str, name: Builtin, code: str) -> None:
        assert self._tool_step is not None
        set_calls(self.store, self._tool_step["id"], [
            {"id": call_id, "type": "code_interpreter",
             "code_interpreter": {"input": code, "outputs": []}}])


def annotation_wire(a: Annotation, index: int | None = None) -> records.TextAnnotation:
    """An annotation as Assistants v2 shows it (with `index` in stream deltas)."""
    out: records.TextAnnotation = {
        "type": a.kind, "text": a.text, "start_index": a.start, "end_index": a.end}
    if index is not None:
        out = {"index": index, **out}  # first, as the wire has always shown it
    if a.kind == "file_citation":
        out["file_citation"] = {"file_id": a.file_id, "quote": a.quote}
    else:
        out["file_path"] = {"file_id": a.file_id}
    return out


# --- the run as the core's spec -----------------------------------------------------------------


def run_spec(conn: Connection, run: RunRecord, extra: dict[str, float]) -> TurnSpec:
    """The run's turn for the core: the thread's messages, then the run's answered rounds."""
    items: list[Item] = [Message(m["role"], message_text(m))
                         for m in _thread_messages(conn, run.thread_id)]
    if run.params.usage is not None:  # every tool round adds its tokens to the usage first
        items += round_items(_answered_rounds(conn, run.id), run)
    fs = ci = None
    for tool in run.tools:
        if tool["type"] == "file_search":
            cfg = tool.get("file_search") or {}
            ranking = cfg.get("ranking_options") or {}
            fs = FileSearch(tuple(_store_ids(conn, run)),
                            max_num_results=cfg.get("max_num_results") or 20,
                            score_threshold=float(ranking.get("score_threshold", 0.0)))
        elif tool["type"] == "code_interpreter":
            ci = CodeInterpreter(run.thread_id, input_files(_input_rows(conn, run)))
    return TurnSpec(
        instructions=run.instructions, items=items,
        functions=[Function(f["function"]["name"], f["function"].get("description"),
                            f["function"].get("parameters"), f["function"].get("strict"))
                   for f in run.tools if f["type"] == "function"],
        file_search=fs, code_interpreter=ci, tool_choice=_choice(run.tool_choice),
        parallel_tool_calls=run.parallel_tool_calls,
        max_output_tokens=run.max_completion_tokens, max_prompt_tokens=run.max_prompt_tokens,
        last_messages=run.truncation_strategy.get("last_messages"),
        sampling=Sampling(run.temperature, run.top_p, dict(extra)),
        output_format=formats.output_format(run.response_format),
        kv_key=run.thread_id, spent=run.params.usage)


def _choice(tool_choice: str | records.NamedToolChoice) -> str | dict[str, str]:
    if isinstance(tool_choice, dict):
        if tool_choice["type"] == "function":
            return {"name": tool_choice["function"]["name"]}
        return {"name": tool_choice["type"]}
    return tool_choice


def message_text(message: records.MessageRow) -> str:
    """A stored message as plain text for the model."""
    parts = []
    for part in message["content"]:
        if part["type"] == "text":
            parts.append(part["text"]["value"])
        elif part["type"] == "image_file":
            parts.append(f"[image file {part['image_file']['file_id']}]")
        elif part["type"] == "image_url":
            parts.append(f"[image {part['image_url']['url']}]")
        elif part["type"] == "refusal":
            parts.append(part["refusal"])
    return "\n".join(parts)


def round_items(steps: list[records.StepRow], run: RunRecord) -> list[Item]:
    """The run's answered tool_calls steps: function calls with their outputs, built-in calls
    as the engine ran them (tool_io, by call id)."""
    items: list[Item] = []
    for step in steps:
        calls = step["step_details"]["tool_calls"]
        outputs: list[Item] = []
        for c in calls:
            if c["type"] == "function":
                fn = c["function"]
                items.append(FunctionCall(c["id"], fn["name"], fn["arguments"]))
                outputs.append(FunctionOutput(c["id"], fn.get("output") or ""))
            else:
                known = run.params.tool_io.get(c["id"])
                items.append(known if known is not None else BuiltinCall(
                    call_id=c["id"], name=c["type"]))
        items += outputs
    return items


def _thread_messages(conn: Connection, thread_id: str) -> list[records.MessageRow]:
    t = crud.table_of(MessageRow)
    rows = conn.execute(select(t).where(t.c.thread_id == thread_id).order_by(t.c.seq)).all()
    return [crud.to_object(MessageRow, r) for r in rows]


def _answered_rounds(conn: Connection, run_id: str) -> list[records.StepRow]:
    t = crud.table_of(RunStep)
    rows = conn.execute(select(t).where(t.c.run_id == run_id, t.c.type == "tool_calls",
                                        t.c.status == "completed").order_by(t.c.seq)).all()
    return [crud.to_object(RunStep, r) for r in rows]


def _resources(conn: Connection, run: RunRecord) -> list[records.ToolResources]:
    """The `tool` part of the assistant's tool_resources, then of the thread's (which the
    run's own tool_resources replace)."""
    assistant = crud.find(conn, Assistant, run.assistant_id)
    thread = crud.find(conn, Thread, run.thread_id)
    both = (assistant.tool_resources if assistant else None,
            run.tool_resources or (thread.tool_resources if thread else None))
    return [r or {} for r in both]


def _store_ids(conn: Connection, run: RunRecord) -> list[str]:
    """The vector stores a run searches: the assistant's and the thread's."""
    ids = [i for r in _resources(conn, run)
           for i in (r.get("file_search") or {}).get("vector_store_ids", [])]
    return list(dict.fromkeys(ids))


def _input_rows(conn: Connection, run: RunRecord) -> list[tuple[str, str | None, str]]:
    """(file_id, filename, blob path) of the files code_interpreter gets: the assistant's, the
    thread's (or the run's override) and code_interpreter attachments."""
    ids = [i for r in _resources(conn, run)
           for i in (r.get("code_interpreter") or {}).get("file_ids", [])]
    m = crud.table_of(MessageRow)
    for (attachments,) in conn.execute(select(m.c.attachments).where(
            m.c.thread_id == run.thread_id).order_by(m.c.seq)).all():
        ids += [a["file_id"] for a in attachments or []
                if any(t["type"] == "code_interpreter" for t in a["tools"])]
    f = crud.table_of(File)
    rows = {r.id: r for r in conn.execute(select(f.c.id, f.c.filename, f.c.path).where(
        f.c.id.in_(set(ids)), files.live())).all()} if ids else {}
    return [(i, rows[i].filename, rows[i].path) for i in dict.fromkeys(ids) if i in rows]
