"""One model turn of a claimed run: prompt, a message_creation step, generation, the ending."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from airlock.engine import code_round, formats, prompt, runs, search_round, tools
from airlock.engine.citations import Citations
from airlock.engine.steps import call_delta, new_step, open_tool_step
from airlock.engine.events import Hub
from airlock.engine.ids import new_id
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Message, Run, RunStep
from airlock.models.backend import ModelBackend, TurnRequest, TurnResult

log = logging.getLogger("airlock.engine")
# Without max_completion_tokens, this much of the context stays free for the reply.
DEFAULT_REPLY_ROOM = 1024
# Partial replies reach the store this often, so polling clients see progress.
PERSIST_EVERY_S = 0.5
SHUTDOWN = "The server shut down while this run was active; create the run again."


class Turn:
    def __init__(self, store: Store, hub: Hub, backend: ModelBackend, run: dict[str, Any],
                 should_stop: Callable[[], bool], toolbox: tools.Toolbox | None = None):
        self.store, self.hub, self.backend, self.toolbox = store, hub, backend, toolbox
        self.run = run
        self.run_id = run["id"]
        self.should_stop = should_stop
        self.partial: list[str] = []  # reply text decoded so far
        self.reply: tuple[dict, dict] | None = None
        # Set when the run searched files: the answer's text then streams through it.
        self.citations: Citations | None = None
        # What this run's code made: image file ids, and /mnt/data paths -> file ids.
        self.images: list[str] = []
        self.produced: dict[str, str] = {}

    def publish(self, name: str, data: dict[str, Any]) -> None:
        self.hub.publish(self.run_id, name, data)

    def execute(self) -> None:
        self.publish("thread.run.in_progress", self.run)
        # Built-in tool rounds (file_search, code_interpreter) run here and the model goes on
        # in the same claim.
        while self._turn():
            self.reply = None

    def _turn(self) -> bool:
        """One model call; True when a built-in tool round ran and the model must go on."""
        run = self.run
        with self.store.read_conn() as conn:
            history = _thread_messages(conn, run["thread_id"])
            rounds = tools.answered_rounds(conn, self.run_id)
            code_files = ([code_round.MNT + name for _, name, _ in code_round.input_files(conn, run)]
                          if any(t["type"] == "code_interpreter" for t in run["tools"]) else [])
        spent = (run["params"].get("usage") or {}).get("completion_tokens", 0)
        cap = run["max_completion_tokens"]
        remaining = None if cap is None else max(cap - spent, 0)
        n_ctx = self.backend.n_ctx
        budget = n_ctx - (remaining if remaining is not None else min(DEFAULT_REPLY_ROOM, n_ctx // 4))
        if run["max_prompt_tokens"] is not None:
            budget = min(budget, run["max_prompt_tokens"])
        functions, choice = tools.setup(run, len(rounds), code_files)
        tool_io = run["params"].get("tool_io") or {}
        conversation = prompt.conversation(history) + prompt.round_messages(rounds, tool_io)
        try:
            messages, prompt_tokens = prompt.fit(
                self.backend, run["instructions"], conversation, budget=budget,
                last_messages=run["truncation_strategy"].get("last_messages"),
                tools=functions, tool_choice=choice,
            )
        except prompt.PromptTooLong as exc:
            self._prompt_too_long(exc)
            return False
        max_tokens = max(1, n_ctx - prompt_tokens)
        if remaining is not None:
            max_tokens = min(max_tokens, remaining)
        request = TurnRequest(
            messages=messages, max_tokens=max_tokens, temperature=run["temperature"],
            top_p=run["top_p"], thread_id=run["thread_id"], tools=functions, tool_choice=choice,
            parallel_tool_calls=run["parallel_tool_calls"], **formats.request_format(run["response_format"]),
        )
        sources = search_round.sources_of(run)
        self.images, self.produced = code_round.produced_of(run)
        if (sources or self.produced) and not formats.request_format(run["response_format"]):
            self.citations = Citations(sources)
        try:
            result = self._generate(request)
        except Exception as exc:
            log.exception("run %s: generation failed", self.run_id)
            self._close_failed(f"The model failed: {exc}")
            return False
        offered = {f["name"] for f in functions}
        builtin = [c for c in result.tool_calls if c["name"] in tools.BUILTINS
                   and c["name"] in offered]
        if builtin:
            # One built-in call per round; function calls made in the same breath are dropped:
            # the model is asked again, with the tool's results, and may call them then.
            return self._builtin_round(builtin[0], result, history)
        if result.tool_calls:
            self._require_action(result)
        else:
            self._close_reply(*self._reply(), result)
        return False

    def _builtin_round(self, call: dict[str, str], result: TurnResult,
                       history: list[dict[str, Any]]) -> bool:
        """Runs the tool; True when the model goes on, False when the run ended."""
        usage = _usage(result)
        total = _add_usage(self.run["params"].get("usage"), usage)
        self.run["params"] = {**self.run["params"], "usage": total}
        if call["name"] == "code_interpreter":
            try:
                code_round.run_round(self.store, self.toolbox.sandbox, self.toolbox.files_dir,
                                     self.publish, self.run, call, usage)
            except code_round.ToolFailed as exc:
                self._close_failed(str(exc))
                return False
            return True
        last_user = next((prompt.message_text(m) for m in reversed(history)
                          if m["role"] == "user"), "")
        # Sources may fill about half the context; the rest is the conversation and the reply.
        max_chars = int(self.backend.n_ctx * tools.SOURCES_SHARE * 3)
        search_round.run_round(self.store, self.toolbox, self.publish, self.run, [call], usage,
                               last_user, max_chars)
        return True

    # --- pieces ------------------------------------------------------------------------------

    def _reply(self) -> tuple[dict, dict]:
        """The message_creation step and message, created when the first text arrives."""
        if self.reply is None:
            self.reply = self._open_reply()
        return self.reply

    def _open_reply(self) -> tuple[dict, dict]:
        run, now = self.run, crud.now()
        message_id = new_id("message")
        step = new_step(run, None, {"type": "message_creation",
                                    "message_creation": {"message_id": message_id}})
        message = {
            "id": message_id, "thread_id": run["thread_id"], "created_at": now,
            "role": "assistant", "content": [], "status": "in_progress",
            "incomplete_details": None, "completed_at": None, "incomplete_at": None,
            "assistant_id": run["assistant_id"], "run_id": self.run_id, "attachments": [],
            "metadata": {},
        }
        with self.store.begin() as conn:
            crud.add(conn, RunStep, step)
            crud.add(conn, Message, message)
        self.publish("thread.run.step.created", step)
        self.publish("thread.run.step.in_progress", step)
        self.publish("thread.message.created", message)
        self.publish("thread.message.in_progress", message)
        return step, message

    def _generate(self, request: TurnRequest) -> TurnResult:
        self.partial = []
        last_persist = time.monotonic()

        def on_text(piece: str) -> None:
            nonlocal last_persist
            _, message = self._reply()
            self._stream(message["id"], piece)
            if time.monotonic() - last_persist >= PERSIST_EVERY_S:
                last_persist = time.monotonic()
                with self.store.begin() as conn:
                    crud.change(conn, Message, message["id"], {"content": self._content()})

        result = self.backend.generate(request, on_text, self.should_stop)
        if self.citations is not None and self.reply is not None:
            for text, anns in self.citations.finish():
                self._publish_text(self.reply[1]["id"], text, anns)
        return result

    def _stream(self, message_id: str, piece: str) -> None:
        if self.citations is None:
            self._publish_text(message_id, piece, [])
            return
        for text, anns in self.citations.feed(piece):
            self._publish_text(message_id, text, anns)

    def _publish_text(self, message_id: str, text: str, annotations: list[dict]) -> None:
        self.partial.append(text)
        data: dict[str, Any] = {"id": message_id, "value": text}
        if annotations:
            data["annotations"] = annotations
        self.publish("thread.message.delta", data)

    def _content(self, final: str | None = None) -> list[dict[str, Any]]:
        """The reply's content as streamed so far (with citations), or `final` text, then the
        images this run's code made."""
        if self.citations is not None:
            text = self.citations.content()
        else:
            text = _text_content("".join(self.partial) if final is None else final)
        return text + [{"type": "image_file", "image_file": {"file_id": f}} for f in self.images]

    def _stream_outputs(self, message_id: str) -> None:
        """After the text: file_path annotations for sandbox links to files the code made, and
        the code's images as image_file parts (indexes after the text's)."""
        if self.citations is not None and self.produced:
            links = self.citations.link_files(self.produced)
            if links:
                self._publish_text(message_id, "", links)
        if self.images and not self.partial:
            self._publish_text(message_id, "", [])  # the text part is index 0, even if empty
        for i, file_id in enumerate(self.images, start=1):
            self.publish("thread.message.delta", {"id": message_id, "index": i, "part": {
                "type": "image_file", "image_file": {"file_id": file_id}}})

    def _close_reply(self, step: dict, message: dict, result: TurnResult) -> None:
        self._stream_outputs(message["id"])
        usage = _usage(result)
        ending, fields = "completed", {}
        error = formats.reply_error(self.run["response_format"], result)
        if result.finish_reason == "cancelled":
            # Stopped without a cancel request (those mark the run cancelling, below): shutdown.
            ending = "failed"
            fields = {"last_error": {"code": "server_error", "message": SHUTDOWN}}
        elif result.finish_reason == "length":
            ending = "incomplete"
            fields = {"incomplete_details": {"reason": "max_completion_tokens"}}
        elif error:
            ending = "failed"
            fields = {"last_error": {"code": "server_error", "message": error}}
        with self.store.begin() as conn:
            crud.change(conn, RunStep, step["id"], {"usage": usage})
            crud.change(conn, Message, message["id"], {"content": self._content(result.text)})
            # A cancel that arrived while the reply finished still wins.
            if _status(conn, self.run_id) == "cancelling":
                ending, fields = "cancelled", {}
            # finish() closes the message and step to match the ending, and says so in events.
            events = runs.finish(conn, self.run_id, ending,
                                 usage=_add_usage(self.run["params"].get("usage"), usage), **fields)
        self.hub.publish_all(self.run_id, events)

    def _close_failed(self, error: str) -> None:
        """The message keeps the text streamed so far: a stream's final snapshot must hold it."""
        with self.store.begin() as conn:
            if self.reply is not None:
                crud.change(conn, Message, self.reply[1]["id"], {"content": self._content()})
            events = runs.finish(conn, self.run_id, "failed",
                                 last_error={"code": "server_error", "message": error})
        self.hub.publish_all(self.run_id, events)

    def _require_action(self, result: TurnResult) -> None:
        """A tool_calls step, then the run waits for the client's outputs (contract §3.3 (b))."""
        run, usage = self.run, _usage(result)
        calls = [{"id": new_id("call"), "type": "function",
                  "function": {"name": c["name"], "arguments": c["arguments"], "output": None}}
                 for c in result.tool_calls]
        step = open_tool_step(self.store, self.publish, run, usage)
        total = _add_usage(run["params"].get("usage"), usage)
        with self.store.begin() as conn:
            crud.change(conn, RunStep, step["id"],
                        {"step_details": {"type": "tool_calls", "tool_calls": calls}})
            if _status(conn, self.run_id) == "cancelling":
                events = runs.finish(conn, self.run_id, "cancelled", usage=total)
            else:
                crud.change(conn, Run, self.run_id, {
                    "status": "requires_action",
                    "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {
                        "tool_calls": [{"id": c["id"], "type": "function",
                                        "function": {"name": c["function"]["name"],
                                                     "arguments": c["function"]["arguments"]}}
                                       for c in calls]}},
                    "params": {**run["params"], "usage": total},
                })
                events = [("thread.run.requires_action", crud.get(conn, Run, runs.KIND, self.run_id))]
        for i, call in enumerate(calls):
            # Identity fields once, then the arguments: the SDKs concatenate repeated strings.
            self.publish("thread.run.step.delta", call_delta(step["id"], i, {
                "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": "", "output": None}}))
            self.publish("thread.run.step.delta", call_delta(step["id"], i, {
                "type": "function", "function": {"arguments": call["function"]["arguments"]}}))
        self.hub.publish_all(self.run_id, events)

    def _prompt_too_long(self, exc: prompt.PromptTooLong) -> None:
        cap = self.run["max_prompt_tokens"]
        with self.store.begin() as conn:
            if cap is not None and exc.tokens > cap:
                events = runs.finish(conn, self.run_id, "incomplete",
                                     incomplete_details={"reason": "max_prompt_tokens"})
            else:
                events = runs.finish(conn, self.run_id, "failed", last_error={
                    "code": "invalid_prompt",
                    "message": f"The newest message alone does not fit the model's context "
                               f"({exc.tokens} tokens, room for {exc.budget}).",
                })
        self.hub.publish_all(self.run_id, events)


def _thread_messages(conn: Connection, thread_id: str) -> list[dict[str, Any]]:
    t = crud.table_of(Message)
    rows = conn.execute(select(t).where(t.c.thread_id == thread_id).order_by(t.c.seq)).all()
    return [crud.to_object(r) for r in rows]


def _status(conn: Connection, run_id: str) -> str:
    t = crud.table_of(Run)
    return conn.execute(select(t.c.status).where(t.c.id == run_id)).scalar_one()


def _text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def _add_usage(total: dict[str, Any] | None, turn: dict[str, Any]) -> dict[str, Any]:
    if not total:
        return dict(turn)
    cached = (total.get("prompt_token_details") or {}).get("cached_tokens", 0)
    return {
        "prompt_tokens": total["prompt_tokens"] + turn["prompt_tokens"],
        "completion_tokens": total["completion_tokens"] + turn["completion_tokens"],
        "total_tokens": total["total_tokens"] + turn["total_tokens"],
        "prompt_token_details": {
            "cached_tokens": cached + turn["prompt_token_details"]["cached_tokens"]},
    }


def _usage(result: TurnResult) -> dict[str, Any]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
        "prompt_token_details": {"cached_tokens": result.cached_tokens},
    }
