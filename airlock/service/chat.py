"""Chat Completions: one request runs the turn core on the model's worker, nothing is stored.

The request's messages become the core's items (system and developer messages its
instructions); each of the `n` choices is one turn, generated one after another on a thread of
its own while the event loop streams what it decides. The model is shared with runs through the
backend's lock, granted in arrival order (models.fair_lock): a chat request waits for the
generation under way, never for a whole queue of runs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from airlock.engine.chat import complete
from airlock.engine.core.items import (
    FunctionOutput,
    Item,
    Message,
    Outcome,
    OutputFormat,
    TurnSpec,
    Usage,
)
from airlock.errors import InvalidRequest, ServerError
from airlock.models.registry import ModelEntry
from airlock.service import turn_thread
from airlock.service.chat_commands import (
    ChatChoice,
    ChatCommand,
    ChatEvent,
    ChatResult,
    ChoiceEnd,
    ChoiceText,
    FinishReason,
)
from airlock.service.context import Context
from airlock.service.model_names import resolve_model
from airlock.service.sampling import sampling
from airlock.service.turn_thread import DONE, Put, TurnThread
from airlock.store.ids import new_id

FINGERPRINT = "fp_airlock"


class Chat:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, cmd: ChatCommand) -> ChatResult:
        result, events = await self.stream(cmd)
        async for _ in events:
            pass
        return result

    async def stream(self, cmd: ChatCommand
                     ) -> tuple[ChatResult, AsyncIterator[ChatEvent | ChatResult]]:
        """The result (its id, time and model now, its choices and usage once the events are
        through) and the choices' events, the result last. Raises (before the first event)
        what makes the request fail as a whole: a prompt too long, a model that fails."""
        entry = self.ctx.registry.get(resolve_model(self.ctx, cmd.model))
        instructions, items = to_items(cmd)
        result = ChatResult(new_id("chat_completion"), int(time.time()), entry.name, [], Usage(),
                            FINGERPRINT)
        def work(put: Put, should_stop: Callable[[], bool]) -> ChatResult:
            self._generate(cmd, entry, instructions, items, result, put, should_stop)
            return result

        turn = await turn_thread.start("airlock-chat", work)
        return result, _drain(turn)

    def _generate(self, cmd: ChatCommand, entry: ModelEntry, instructions: str,
                  items: list[Item], result: ChatResult, put: Callable[[object], None],
                  should_stop: Callable[[], bool]) -> None:
        try:
            backend = self.ctx.registry.backend(entry.name)
        except Exception as exc:
            raise ServerError(f"The model '{entry.name}' could not be loaded: {exc}") from exc
        for index in range(cmd.n):
            spec = _spec(cmd, entry, instructions, items, index)
            outcome = complete(backend, spec, _texts(put, index), should_stop,
                               label=f"{result.id}/{index}",
                               embed=self.ctx.background.scheduler.toolbox.embed)
            choice = _choice(index, outcome, backend.n_ctx)
            result.choices.append(choice)
            # Prompt tokens count once (every choice reads the same prompt); completions add up.
            usage = outcome.usage
            result.usage = usage if index == 0 else Usage.of(
                result.usage.prompt_tokens, result.usage.completion_tokens
                + usage.completion_tokens, result.usage.prompt_token_details.cached_tokens)
            put(ChoiceEnd(choice))
            if should_stop():
                break


def _texts(put: Callable[[object], None], index: int) -> Callable[[str], None]:
    return lambda text: put(ChoiceText(index, text))


async def _drain(turn: TurnThread) -> AsyncIterator[ChatEvent | ChatResult]:
    """Yields the worker's events; a client that goes away stops the generation."""
    item = turn.first
    try:
        while item is not DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
            item = await turn.queue.get()
    finally:
        turn.stop.set()


def to_items(cmd: ChatCommand) -> tuple[str, list[Item]]:
    """The instructions (system and developer messages, wherever they stand) and the items.
    A tool message must answer a call of an earlier assistant message, and every call must be
    answered, as the real API requires."""
    system: list[str] = []
    items: list[Item] = []
    open_calls: dict[str, int] = {}
    for i, m in enumerate(cmd.messages):
        if m.role in ("system", "developer"):
            if m.text:
                system.append(m.text)
        elif m.role == "tool":
            if m.tool_call_id not in open_calls:
                raise InvalidRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceding message with 'tool_calls' (no open call '{m.tool_call_id}').",
                    param=f"messages.[{i}].tool_call_id")
            del open_calls[m.tool_call_id]
            items.append(FunctionOutput(m.tool_call_id, m.text))
        else:
            _check_answered(open_calls, i)
            if m.text or not m.tool_calls:
                items.append(Message(m.role, m.text))
            for call in m.tool_calls:
                open_calls[call.call_id] = i
                items.append(call)
    _check_answered(open_calls, len(cmd.messages))
    return "\n\n".join(system), items


def _check_answered(open_calls: dict[str, int], at: int) -> None:
    if open_calls:
        call, i = next(iter(open_calls.items()))
        raise InvalidRequest(
            "An assistant message with 'tool_calls' must be followed by tool messages responding "
            f"to each 'tool_call_id'. The following tool_call_ids did not have response "
            f"messages: {', '.join(open_calls)}", param=f"messages.[{i}].tool_calls")


def _spec(cmd: ChatCommand, entry: ModelEntry, instructions: str, items: list[Item],
          index: int) -> TurnSpec:
    # With a seed, choice k samples with seed + k (repeatable, yet n different choices);
    # without one, every request samples afresh, as on the real API.
    seed = cmd.seed + index if cmd.seed is not None else None
    return TurnSpec(
        instructions=instructions, items=items,
        functions=list(cmd.functions),
        tool_choice=cmd.tool_choice, parallel_tool_calls=cmd.parallel_tool_calls,
        max_output_tokens=cmd.max_tokens,
        sampling=sampling(entry, cmd.temperature, cmd.top_p, seed, cmd.controls),
        output_format=OutputFormat(cmd.json_object, cmd.json_schema))


def _choice(index: int, outcome: Outcome, n_ctx: int) -> ChatChoice:
    if outcome.ending == "too_long":
        raise InvalidRequest(
            f"This model's maximum context length is {n_ctx} tokens. However, your messages "
            f"resulted in {outcome.tokens} tokens. Please reduce the length of the messages.",
            param="messages", code="context_length_exceeded")
    if outcome.ending == "failed":
        raise ServerError(outcome.error or "The model failed.")
    if outcome.ending == "calls":
        return ChatChoice(index, "", "tool_calls",
                          list(outcome.calls))
    finish: FinishReason = "length" if outcome.ending == "incomplete" else "stop"
    return ChatChoice(index, outcome.text, finish, logprobs=outcome.logprobs)
