"""The turn core: model calls until the model answers or calls functions.

Each call: decide which tools are offered (engine.offering), fit the prompt into the budget
(engine.prompt), generate under grammars (the text streams to the adapter through
`ReplyStream`: loop guard, citations), then one of:
- a built-in call (file_search, code_interpreter): the tool runs (core.builtins), its result
  joins the items and the model is called again;
- function calls: the turn ends with them (`Outcome.calls`); the adapter asks the client;
- text: the turn ends with the answer.
Call guards drop calls repeated within the exchange; a model that only repeats answered calls
is asked to answer instead. Which API generation asked, and what it keeps, is the adapter's.

For a real model (not the scripted one, whose replies are the test's), the server decides some
of what a small model cannot (core.decisions, core.grounding): whether the first round searches,
runs code or calls a plainly requested function; that code is a program before it runs; that an
answer after tool rounds is not empty; that an answer over sources shows one it can cite.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jsonschema

from airlock.engine.core import call_guards, decisions, function_intent, grounding, offering, prompt
from airlock.engine.core.builtins import SOURCES_SHARE, Builtins, ToolFailed, cite_hint, code_of
from airlock.engine.core.citations import Citations
from airlock.engine.core.function_intent import Embed
from airlock.engine.core.items import (
    BuiltinCall,
    FunctionCall,
    FunctionOutput,
    Item,
    Message,
    Outcome,
    Source,
    TurnSpec,
    Usage,
)
from airlock.engine.core.loop_guard import LoopGuard
from airlock.engine.core.reply import ReplyStream
from airlock.engine.core.sink import Sink
from airlock.models.backend import ModelBackend, TurnRequest, TurnResult
from airlock.store.ids import new_id

log = logging.getLogger("airlock.engine")
# Sampling of a second try (an empty answer; a program that did not parse, whose call is
# otherwise decoded greedily): greedy decoding would write the same again.
RETRY_TEMPERATURE = 0.7
# Programs a computation may run: one, and one fix after its traceback; then the model answers
# (a small model's third and later fixes rarely worked and took minutes).
COMPUTE_PROGRAMS = 2
# Sampled tries at a program that was rejected before it ran (not Python, reading the clock or
# a file the run does not have): a first sampled try of Qwen2.5-Coder-0.5B's read the clock
# again; each further try has a seed of its own (the prompt is the same).
PROGRAM_RETRIES = 2


@dataclass
class _Again:
    """The model call is to be made again (see RETRY_TEMPERATURE); its usage counts."""

    usage: Usage


class TurnCore:
    """`label` names the turn in the log (a run's id, a response's). `builtins`: None for an
    API generation without built-in tools (Chat Completions). `embed`: the embedding model's
    function, for deciding whether a function is plainly asked for (None: the model decides)."""

    def __init__(self, backend: ModelBackend, builtins: Builtins | None, sink: Sink,
                 should_stop: Callable[[], bool], label: str = "turn", embed: Embed | None = None):
        self.backend, self.builtins, self.sink = backend, builtins, sink
        self.should_stop, self.label, self.embed = should_stop, label, embed
        # A scripted reply is the test's word for word: the server decides nothing for it.
        self.decides = not getattr(backend, "scripted", False)
        self._withheld: set[str] = set()  # built-ins not offered again in this turn
        self._store_files: int | None = None  # searchable files in the turn's stores
        self._retry = False  # the next model call is a second try
        self._retried_empty = False
        self._program_retries = 0  # sampled tries at a rejected program (PROGRAM_RETRIES)
        self._computing = False  # the server decided the message asks for a computation

    def run(self, spec: TurnSpec) -> Outcome:
        items = list(spec.items)
        usage: Usage | None = None  # this turn's model calls so far
        answer_only = False  # the model only repeated answered calls: it must answer now
        while True:
            result = self._call(spec, items, usage, answer_only)
            if isinstance(result, Outcome):
                return result
            if isinstance(result, _Again):
                usage, self._retry = result.usage, True
                continue
            self._retry = False
            call, made, usage = result
            if call is None:  # repeated calls only
                answer_only = True
                continue
            if call["name"] == "code_interpreter" and self.decides:
                written = code_of(call["arguments"])
                code = decisions.program(written)
                again = self._program_retries < PROGRAM_RETRIES
                why = None
                if code is None:
                    why = f"is not a Python program ({written[:200]!r})"
                elif again and self._computing:
                    if decisions.off_the_clock(code, _user_text(items)):
                        why = "reads the clock, which the message does not ask about"
                    elif (path := decisions.missing_file(code, self._has_file(spec))) is not None:
                        why = f"reads {path}, a file the run does not have"
                if why is not None:
                    # Programs are decoded greedily: the next tries sample; after them, a program
                    # runs whatever it reads, and no code follows one that does not parse.
                    log.info("%s: the model's code_interpreter input %s; %s", self.label, why,
                             "it writes it again, sampled" if again else "it answers without code")
                    if again:
                        self._program_retries += 1
                        self._retry = True
                    else:
                        self._withheld.add("code_interpreter")
                    continue
                call = {**call, "arguments": json.dumps({"code": code})}
            try:
                ran = self._builtin(spec, items, call, made)
            except ToolFailed as exc:
                return Outcome("failed", usage, error=str(exc))
            items.append(ran)
            answer_only = False
            if self._computing and ran.name == "code_interpreter":
                if ran.images or grounding.printed_by(ran):
                    # The computation the server asked code for is done: the model answers
                    # from it now (small models otherwise run the same program again).
                    log.info("%s: the program printed its result; the model answers",
                             self.label)
                    self._withheld.add("code_interpreter")
                elif _code_runs(_exchange(items)) >= COMPUTE_PROGRAMS:
                    log.info("%s: the fixed program failed too; the model answers", self.label)
                    self._withheld.add("code_interpreter")

    # --- one model call -----------------------------------------------------------------------

    def _call(self, spec: TurnSpec, items: list[Item], usage: Usage | None, answer_only: bool
              ) -> Outcome | _Again | tuple[dict[str, str] | None, Usage, Usage]:
        """The model call's ending (an Outcome), or a built-in call to run (None: only repeated
        calls), with the call's usage and the turn's so far."""
        backend = self.backend
        exchange = _exchange(items)
        rounds = _rounds(exchange)
        used: list[str] = [i.name for i in exchange if isinstance(i, BuiltinCall)]
        spent = (spec.spent.completion_tokens if spec.spent else 0) + (
            usage.completion_tokens if usage else 0)
        budget, remaining = prompt.budget(backend.n_ctx, spec.max_prompt_tokens,
                                          spec.max_output_tokens, spent)
        functions, choice = offering.offer(spec, rounds, used)
        if self.decides:
            functions, choice = self._decide(spec, items, functions, choice, rounds)
        if answer_only:
            choice = "none"
        json_reply = spec.output_format.json
        sources = [s for i in exchange if isinstance(i, BuiltinCall) for s in i.sources]
        instructions = spec.instructions
        if sources and not json_reply:
            instructions = "\n\n".join(p for p in (instructions, cite_hint(sources)) if p)
        try:
            messages, prompt_tokens = prompt.fit(
                backend, instructions, prompt.render(items), budget=budget,
                last_messages=spec.last_messages, tools=functions, tool_choice=choice,
                truncate=spec.truncate)
        except prompt.PromptTooLong as exc:
            return Outcome("too_long", usage or Usage(), tokens=exc.tokens, budget=exc.budget)
        named = isinstance(choice, dict)
        fmt = spec.output_format
        request = TurnRequest(
            messages=messages, max_tokens=prompt.reply_limit(backend.n_ctx, prompt_tokens,
                                                             remaining),
            temperature=max(spec.sampling.temperature, RETRY_TEMPERATURE) if self._retry
            else spec.sampling.temperature, top_p=spec.sampling.top_p,
            thread_id=spec.kv_key, tools=functions, tool_choice=choice,
            parallel_tool_calls=spec.parallel_tool_calls and not named,
            call_temperature=RETRY_TEMPERATURE if self._retry else 0.0,
            extra=self._extra(spec), json_object=fmt.json_object,
            json_schema=fmt.json_schema, controls=spec.sampling.controls)
        produced = {p: f for i in exchange if isinstance(i, BuiltinCall) for p, f in i.files.items()}
        cite = bool(sources or produced) and not json_reply
        # A JSON reply is bounded by its grammar; prose is watched for loops.
        guard = None if json_reply else LoopGuard()
        # A scripted reply is annotated only at the markers it carries.
        reply = ReplyStream(self.sink, Citations(sources, auto=self.decides) if cite else None,
                            guard)
        try:
            result = backend.generate(
                request, reply.on_text,
                lambda: self.should_stop() or (guard is not None and guard.tripped))
            reply.end_of_text()
        except Exception as exc:
            log.exception("%s: generation failed", self.label)
            return Outcome("failed", usage or Usage(), text=reply.text,
                           annotations=reply.annotations, error=f"The model failed: {exc}",
                           answered=reply.started)
        if guard is not None and guard.tripped and result.finish_reason == "cancelled" \
                and not self.should_stop():
            log.info("%s: the loop guard stopped a reply that repeated itself", self.label)
            result = replace(result, finish_reason="stop")
        made = _usage(result)
        total = made.plus(usage)
        calls = call_guards.kept(result.tool_calls, _answered(exchange), named)
        if result.tool_calls and not calls:
            log.info("%s: the model only repeated calls already answered; it answers now",
                     self.label)
            return None, made, total
        offered = {f["name"] for f in functions}
        builtin = [c for c in calls if c["name"] in offering.BUILTINS and c["name"] in offered]
        if builtin:
            # One built-in call per round; function calls made in the same breath are dropped:
            # the model is asked again, with the tool's results, and may call them then.
            return builtin[0], made, total
        if calls:
            return Outcome("calls", total, last=made, calls=[
                FunctionCall(new_id("call"), c["name"], c["arguments"]) for c in calls])
        if self.decides and not json_reply and result.finish_reason not in ("cancelled",):
            tools_ran = any(isinstance(i, (BuiltinCall, FunctionOutput)) for i in exchange)
            if tools_ran and not reply.text.strip():
                if not self._retried_empty:
                    self._retried_empty = True
                    log.info("%s: the answer after tool rounds was empty; sampled again",
                             self.label)
                    return _Again(total)
                log.info("%s: the answer after tool rounds was empty twice; answered from the "
                         "tool's output", self.label)
                reply.append(grounding.fallback_answer(exchange, _user_text(items)))
            elif sources and cite:
                self._quote(reply, sources, exchange, items)
            elif (line := grounding.code_result(exchange, reply.text, _user_text(items))
                  ) is not None:
                log.info("%s: the answer did not state what the program printed (as asked); "
                         "it follows", self.label)
                reply.append(line)
        return self._answer(spec, reply, result, total, made, produced)

    def _extra(self, spec: TurnSpec) -> dict[str, Any]:
        """The request's backend options; a rejected program's second and later sampled tries
        each get a seed of their own (the same seed and prompt would write the same program)."""
        extra = dict(spec.sampling.extra)
        if self._retry and self._program_retries > 1:
            seed = extra.get("seed")
            extra["seed"] = (seed if isinstance(seed, int) else 0) + self._program_retries
        return extra

    def _has_file(self, spec: TurnSpec) -> Callable[[str], bool]:
        """Whether a name is in the run's /mnt/data: a file attached to code_interpreter, or
        one its kernel holds (written by an earlier program)."""
        ci, builtins = spec.code_interpreter, self.builtins
        assert ci is not None and builtins is not None  # asked only of code_interpreter's calls
        attached = {f.name for f in ci.files}
        return lambda name: name in attached or builtins.kernel_has(ci.kernel, name)

    # --- what the server decides for the model ----------------------------------------------

    def _decide(self, spec: TurnSpec, items: list[Item], functions: list[dict[str, Any]],
                choice: Any, rounds: int) -> tuple[list[dict[str, Any]], Any]:
        """The tools offered and the choice after the server's decisions (core.decisions):
        built-ins withheld from this turn go; on the first round under "auto", the message
        decides whether the round searches, runs code, calls a plainly requested function,
        or is answered."""
        names = {f["name"] for f in functions}
        drop = set(self._withheld)
        user = _user_text(items)
        first = rounds == 0 and choice == "auto" and spec.tool_choice == "auto"
        force: Any = None
        if "file_search" in names and spec.file_search is not None and self.builtins is not None:
            search = self.builtins.box.search
            stores = list(spec.file_search.vector_store_ids)
            if self._store_files is None:
                similarity, self._store_files = search.nearest(stores, user if first else "")
                if first and self._store_files:
                    log.info("%s: the message's similarity to the files is %.2f (search at "
                             "%.2f)", self.label, similarity, decisions.SEARCH_SIMILARITY)
                    if decisions.wants_search(similarity):
                        force = {"name": "file_search"}
            if not self._store_files:
                drop.add("file_search")  # no file to search: the model is not told it may
            elif first and force is None:
                drop.add("file_search")
        if "code_interpreter" in names - drop and spec.tool_choice == "auto":
            computes = decisions.wants_code(user)
            if first and force is None and computes:
                force = {"name": "code_interpreter"}
                self._computing = True
            elif not computes and not (spec.code_interpreter and spec.code_interpreter.files) \
                    and not _code_runs(_exchange(items)):
                # Not a computation and no data to work on: no code, in later rounds either
                # (after a function's output small models wrote programs unrelated to the
                # question). With files, or once code ran, the model decides.
                drop.add("code_interpreter")
        if first and force is None and self.embed is not None and spec.functions:
            force = function_intent.decide(user, [f.spec() for f in spec.functions], self.embed)
        if isinstance(force, dict):
            drop.discard(force["name"])
        functions = [f for f in functions if f["name"] not in drop]
        if force is not None:
            choice = force
        if not functions:
            choice = "none"
        elif isinstance(choice, dict) and choice["name"] in drop:
            choice = "auto"
        return functions, choice

    def _quote(self, reply: ReplyStream, sources: list[Source], exchange: list[Item],
               items: list[Item]) -> None:
        """When the answer does not cite the source that best matches the question, that
        source's best-matching sentence follows it, quoted and cited (core.grounding)."""
        query = next((i.query for i in reversed(exchange)
                      if isinstance(i, BuiltinCall) and i.query), None)
        found = grounding.best_quote(sources, _user_text(items), query)
        if found is None or any(a.kind == "file_citation" and a.file_id == found[0].file_id
                                for a in reply.annotations):
            return
        log.info("%s: the answer did not cite the best-matching passage; it was quoted",
                 self.label)
        reply.append(grounding.quote_line(*found))

    def _answer(self, spec: TurnSpec, reply: ReplyStream, result: TurnResult, usage: Usage,
                last: Usage, produced: dict[str, str]) -> Outcome:
        reply.open()
        reply.link_files(produced)
        out = Outcome("completed", usage, last=last, text=reply.text,
                      annotations=reply.annotations, answered=True, logprobs=result.logprobs)
        if result.finish_reason == "cancelled":
            out.ending = "cancelled"
        elif result.finish_reason == "length":
            out.ending = "incomplete"
        elif (error := format_error(spec, result.text)) is not None:
            out.ending, out.error = "failed", error
        return out

    # --- a built-in round ---------------------------------------------------------------------

    def _builtin(self, spec: TurnSpec, items: list[Item], call: dict[str, str],
                 usage: Usage) -> BuiltinCall:
        # The offering only offers built-ins the spec names, and an adapter that names them
        # gives the core its Builtins.
        assert self.builtins is not None
        call_id = new_id("call")
        name = call["name"]
        self.sink.builtin_started(call_id, "file_search" if name == "file_search"
                                  else "code_interpreter", usage)
        if name == "code_interpreter":
            assert spec.code_interpreter is not None
            return self.builtins.code_interpreter(self.sink, call_id, spec.code_interpreter,
                                                  call["arguments"])
        assert spec.file_search is not None
        user = _user_text(items)
        searches = sum(isinstance(i, BuiltinCall) and i.name == "file_search" for i in items)
        # Sources may fill about half the context; the rest is the conversation and the reply.
        max_chars = int(self.backend.n_ctx * SOURCES_SHARE * 3)
        return self.builtins.file_search(self.sink, call_id, spec.file_search, call["arguments"],
                                         user, searches, max_chars)


def format_error(spec: TurnSpec, text: str) -> str | None:
    """For JSON formats, a finished reply must parse (and validate); anything else is a bug."""
    fmt = spec.output_format
    if not fmt.json:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return "The model's reply is not valid JSON."
    if fmt.json_schema is not None:
        try:
            jsonschema.validate(value, fmt.json_schema)
        except jsonschema.ValidationError as exc:
            return f"The model's reply does not match the schema: {exc.message}"
    return None


def _user_text(items: list[Item]) -> str:
    return next((i.text for i in reversed(items)
                 if isinstance(i, Message) and i.role == "user"), "")


def _exchange(items: list[Item]) -> list[Item]:
    """The items since the user's last message: this exchange's tool rounds."""
    for k in range(len(items) - 1, -1, -1):
        item = items[k]
        if isinstance(item, Message) and item.role == "user":
            return items[k + 1:]
    return items


def _code_runs(exchange: list[Item]) -> int:
    """Programs the exchange ran."""
    return sum(isinstance(i, BuiltinCall) and i.name == "code_interpreter" for i in exchange)


def _rounds(exchange: list[Item]) -> int:
    """Tool rounds: each built-in call, and each run of function calls with their outputs."""
    n = 0
    previous: Item | None = None
    for item in exchange:
        if isinstance(item, BuiltinCall):
            n += 1
        elif isinstance(item, FunctionCall) and not isinstance(previous, FunctionCall):
            n += 1
        previous = item
    return n


def _answered(exchange: list[Item]) -> set[call_guards.Key]:
    """Calls this exchange already made: functions whose outputs came back, and the built-ins
    the engine ran."""
    outputs = {i.call_id for i in exchange if isinstance(i, FunctionOutput)}
    done = {call_guards.key(i.name, i.arguments) for i in exchange
            if isinstance(i, FunctionCall) and i.call_id in outputs}
    return done | {call_guards.key(i.name, i.arguments) for i in exchange
                   if isinstance(i, BuiltinCall)}


def _usage(result: TurnResult) -> Usage:
    return Usage.of(result.prompt_tokens, result.completion_tokens, result.cached_tokens)
