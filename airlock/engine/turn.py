"""The model calls of one claimed run, until it answers, waits for tool outputs, or ends.

Each call: read the thread and the run's answered tool rounds, decide which tools are offered,
fit the prompt into the budget, generate (the text streams through `Reply`), then one of:
- a built-in tool call (file_search, code_interpreter): the round runs here and the model is
  called again in the same claim;
- function calls: the run goes to requires_action;
- text: the reply closes and the run ends.
Every status change goes through `run_state`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, select

from airlock.engine import call_guards, formats, offering, prompt, run_state
from airlock.engine.citations import Citations
from airlock.engine.events import Hub
from airlock.engine.loop_guard import LoopGuard
from airlock.engine.reply import Reply
from airlock.engine.rounds import code_interpreter, file_search
from airlock.engine.rounds.steps import call_delta, open_tool_step
from airlock.engine.rounds.toolbox import Toolbox
from airlock.engine.run_state import RunRecord, RunStatus, Usage
from airlock.models.backend import ModelBackend, TurnRequest, TurnResult
from airlock.store import Store, crud
from airlock.store.ids import new_id
from airlock.store.tables import Message, RunStep

log = logging.getLogger("airlock.engine")
SHUTDOWN = "The server shut down while this run was active; create the run again."


@dataclass
class _Context:
    history: list[dict[str, Any]]  # the thread's messages, oldest first
    rounds: list[dict[str, Any]]  # this run's answered tool_calls steps, oldest first
    code_files: list[str]  # /mnt/data paths of the run's code_interpreter inputs


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

    def publish(self, name: str, data: dict[str, Any]) -> None:
        self.hub.publish(self.run.id, name, data)

    def publish_all(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.hub.publish_all(self.run.id, events)

    def execute(self) -> None:
        self.publish("thread.run.in_progress", self.run.row)
        while self._call_model():
            pass

    def _call_model(self, answer: bool = False) -> bool:
        """One model call; True when a built-in tool round ran and the model must go on.
        `answer`: no tool may be called (the model only repeated calls already answered)."""
        run = self.run
        ctx = self._context()
        spent = run.params.usage.completion_tokens if run.params.usage else 0
        n_ctx = self.backend.n_ctx
        budget, remaining = prompt.budget(n_ctx, run.max_prompt_tokens,
                                          run.max_completion_tokens, spent)
        functions, choice = offering.offer(run, len(ctx.rounds), ctx.code_files)
        if answer:
            choice = "none"
        wanted_format = formats.request_format(run.response_format)
        sources = file_search.sources_of(run)
        instructions = run.instructions
        if sources and not wanted_format:
            instructions = "\n\n".join(p for p in (instructions, file_search.cite_hint(sources)) if p)
        conversation = (prompt.conversation(ctx.history)
                        + prompt.round_messages(ctx.rounds, run.params.tool_io))
        try:
            messages, prompt_tokens = prompt.fit(
                self.backend, instructions, conversation, budget=budget,
                last_messages=run.truncation_strategy.get("last_messages"),
                tools=functions, tool_choice=choice,
            )
        except prompt.PromptTooLong as exc:
            self._prompt_too_long(exc)
            return False
        named = isinstance(choice, dict)
        request = TurnRequest(
            messages=messages, max_tokens=prompt.reply_limit(n_ctx, prompt_tokens, remaining),
            temperature=run.temperature, top_p=run.top_p, thread_id=run.thread_id,
            tools=functions, tool_choice=choice,
            parallel_tool_calls=run.parallel_tool_calls and not named,
            extra=dict(self.sampling), **wanted_format,
        )
        images, produced = code_interpreter.produced_of(run)
        cite = bool(sources or produced) and not wanted_format
        # A JSON reply is bounded by its grammar; prose is watched for loops.
        guard = None if wanted_format else LoopGuard()
        reply = Reply(self.store, self.publish, run, Citations(sources) if cite else None,
                      images, produced, guard)
        try:
            result = self.backend.generate(
                request, reply.on_text,
                lambda: self.should_stop() or (guard is not None and guard.tripped))
            reply.end_of_text()
        except Exception as exc:
            log.exception("run %s: generation failed", run.id)
            self._close_failed(reply, f"The model failed: {exc}")
            return False
        if guard is not None and guard.tripped and result.finish_reason == "cancelled" \
                and not self.should_stop():
            log.info("run %s: the loop guard stopped a reply that repeated itself", run.id)
            result = replace(result, finish_reason="stop")
        calls = call_guards.kept(result.tool_calls,
                                 call_guards.answered(ctx.rounds, run.params.tool_io), named)
        if result.tool_calls and not calls:
            log.info("run %s: the model only repeated calls already answered; it answers now",
                     run.id)
            self.run.params.usage = _plus(self.run.params.usage, _usage(result))
            return self._call_model(answer=True)
        offered = {f["name"] for f in functions}
        builtin = [c for c in calls if c["name"] in offering.BUILTINS and c["name"] in offered]
        if builtin:
            # One built-in call per round; function calls made in the same breath are dropped:
            # the model is asked again, with the tool's results, and may call them then.
            return self._builtin_round(builtin[0], result, ctx.history)
        if calls:
            self._require_action(replace(result, tool_calls=calls))
        else:
            self._close_reply(reply, result)
        return False

    def _context(self) -> _Context:
        run = self.run
        with self.store.read_conn() as conn:
            return _Context(
                history=_thread_messages(conn, run.thread_id),
                # Every tool round adds its tokens to the run's usage first: a run without
                # usage has no answered round to read.
                rounds=[] if run.params.usage is None else _answered_rounds(conn, run.id),
                code_files=(code_interpreter.input_paths(conn, run)
                            if run.has_tool("code_interpreter") else []))

    def _builtin_round(self, call: dict[str, str], result: TurnResult,
                       history: list[dict[str, Any]]) -> bool:
        """Runs the tool; True when the model goes on, False when the run ended."""
        usage = _usage(result)
        self.run.params.usage = _plus(self.run.params.usage, usage)
        if call["name"] == "code_interpreter":
            try:
                code_interpreter.run_round(self.store, self.toolbox, self.publish, self.run,
                                           call["arguments"], usage)
            except code_interpreter.ToolFailed as exc:
                self._fail(str(exc))
                return False
            return True
        last_user = next((prompt.message_text(m) for m in reversed(history)
                          if m["role"] == "user"), "")
        # Sources may fill about half the context; the rest is the conversation and the reply.
        max_chars = int(self.backend.n_ctx * file_search.SOURCES_SHARE * 3)
        file_search.run_round(self.store, self.toolbox, self.publish, self.run,
                              call["arguments"], usage, last_user, max_chars)
        return True

    # --- endings ---------------------------------------------------------------------------------

    def _close_reply(self, reply: Reply, result: TurnResult) -> None:
        reply.open()
        reply.stream_outputs()
        usage = _usage(result)
        ending, fields = RunStatus.COMPLETED, {}
        error = formats.reply_error(self.run.response_format, result)
        if result.finish_reason == "cancelled":
            # Stopped without a cancel request (those mark the run cancelling): a shutdown.
            ending = RunStatus.FAILED
            fields = {"last_error": {"code": "server_error", "message": SHUTDOWN}}
        elif result.finish_reason == "length":
            ending = RunStatus.INCOMPLETE
            fields = {"incomplete_details": {"reason": "max_completion_tokens"}}
        elif error:
            ending = RunStatus.FAILED
            fields = {"last_error": {"code": "server_error", "message": error}}
        assert reply.step is not None
        # The ending closes the message and step to match (writing the final content and the
        # usage as it does), and says so in events: one statement unless a cancel arrived or
        # the run ended meanwhile.
        ends: dict[str, Any] = dict(message=(reply.message_id, {"content": reply.content()}),
                                    step=(reply.step["id"], {"usage": usage.wire()}),
                                    usage=_plus(self.run.params.usage, usage).wire(), **fields)
        with self.store.statement() as conn:
            events = run_state.try_finish_turn(conn, self.run, ending, **ends)
        if events is None:
            with self.store.begin() as conn:
                events = run_state.finish_turn(conn, self.run, ending, **ends)
        self.publish_all(events)

    def _close_failed(self, reply: Reply, error: str) -> None:
        """The message keeps the text streamed so far: a stream's final snapshot must hold it."""
        if reply.message is not None:
            with self.store.begin() as conn:
                crud.change(conn, Message, reply.message_id, {"content": reply.content()})
        self._fail(error)

    def _fail(self, error: str) -> None:
        with self.store.begin() as conn:
            events = run_state.fail(conn, self.run.id, error)
        self.publish_all(events)

    def _require_action(self, result: TurnResult) -> None:
        """A tool_calls step, then the run waits for the client's outputs (stream ordering for
        function calls, docs/wire/streaming.md)."""
        run, usage = self.run, _usage(result)
        calls: list[dict[str, Any]] = [
            {"id": new_id("call"), "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"], "output": None}}
            for c in result.tool_calls]
        step = open_tool_step(self.store, self.publish, run, usage)
        run.params.usage = _plus(run.params.usage, usage)
        required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
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

    def _prompt_too_long(self, exc: prompt.PromptTooLong) -> None:
        cap = self.run.max_prompt_tokens
        with self.store.begin() as conn:
            if cap is not None and exc.tokens > cap:
                events = run_state.finish_turn(conn, self.run, RunStatus.INCOMPLETE,
                                               incomplete_details={"reason": "max_prompt_tokens"})
            else:
                events = run_state.fail(
                    conn, self.run.id, f"The newest message alone does not fit the model's "
                    f"context ({exc.tokens} tokens, room for {exc.budget}).", code="invalid_prompt")
        self.publish_all(events)


def _thread_messages(conn: Connection, thread_id: str) -> list[dict[str, Any]]:
    t = crud.table_of(Message)
    rows = conn.execute(select(t).where(t.c.thread_id == thread_id).order_by(t.c.seq)).all()
    return [crud.to_object(r) for r in rows]


def _answered_rounds(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    t = crud.table_of(RunStep)
    rows = conn.execute(select(t).where(t.c.run_id == run_id, t.c.type == "tool_calls",
                                        t.c.status == "completed").order_by(t.c.seq)).all()
    return [crud.to_object(r) for r in rows]


def _usage(result: TurnResult) -> Usage:
    return Usage.of(result.prompt_tokens, result.completion_tokens, result.cached_tokens)


def _plus(total: Usage | None, turn: Usage) -> Usage:
    return turn if total is None else total.plus(turn)
