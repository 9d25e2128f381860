"""What the Responses service is asked to do, and what it hands back while it works: the
request as a typed command (server.responses_request builds it), and the stream's events."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from airlock.engine.core.items import Choice, Function
from airlock.engine.response_events import ResponseEvents
from airlock.store.ids import new_id
from airlock.store.records import ItemJson, JsonObject, JsonValue

# ItemJson, JsonObject and new_id are re-exported for the HTTP layer, which gives new items
# their ids as it validates them; ResponseEvents for it to number a streamed response's events.
__all__ = ["BuiltinDone", "BuiltinStarted", "CodeStarted", "Finished", "ItemJson", "JsonObject",
           "JsonValue", "ResponseCommand", "ResponseEvent", "ResponseEvents", "TextDelta",
           "command_json", "command_of", "new_id", "wire_events"]


@dataclass(frozen=True)
class ResponseCommand:
    model: str | None
    input: list[ItemJson]  # stored shapes; item_reference entries still to resolve
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation_id: str | None = None
    store: bool = True
    background: bool = False  # queued for a model worker (service.background_responses)
    functions: tuple[Function, ...] = ()
    # Names among `functions` that are freeform `custom` tools: the model fills one string
    # argument, `input`, and the output item is a custom_tool_call.
    custom: frozenset[str] = frozenset()
    namespaces: dict[str, str] = field(default_factory=dict)  # function -> its namespace tool
    tool_choice: Choice = "auto"
    parallel_tool_calls: bool = True
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_logprobs: int | None = None
    seed: int | None = None  # airlock's extension; without it every response samples afresh
    json_object: bool = False
    json_schema: JsonObject | None = None
    truncate: bool = False  # truncation "auto"
    prompt_id: str | None = None  # an assistant's id, used as the prompt (service.response_prompts)
    prompt_variables: dict[str, str] = field(default_factory=dict)
    # Fields of the response object that echo the request as sent (tools, tool_choice, text,
    # metadata, user...): the service stores them, it does not read them.
    echo: JsonObject = field(default_factory=dict)
    # file_search in responses: {vector_store_ids, max_num_results, score_threshold, filters}
    file_search: JsonObject | None = None
    search_results: bool = False  # include=["file_search_call.results"]
    # code_interpreter in responses: {"container": id} or {"auto": {file_ids, memory_limit}}
    code_interpreter: JsonObject | None = None
    code_outputs: bool = False  # include=["code_interpreter_call.outputs"]
    max_tool_calls: int | None = None


def command_json(cmd: ResponseCommand) -> JsonObject:
    """The command as a background response stores it, to run when a worker claims it."""
    out: dict[str, Any] = asdict(cmd)
    out["custom"] = sorted(cmd.custom)
    return out


def command_of(stored: JsonObject) -> ResponseCommand:
    fields: dict[str, Any] = dict(stored)
    functions = tuple(Function(**f) for f in fields.pop("functions"))
    custom = frozenset(fields.pop("custom"))
    return replace(ResponseCommand(**fields), functions=functions, custom=custom)


@dataclass(frozen=True)
class TextDelta:
    """Text of the reply, as the model decides it, for the message item `message_id`, with
    the annotations placed in it (their `index` counts from the start of the message)."""

    message_id: str
    text: str
    annotations: tuple[JsonObject, ...] = ()


@dataclass(frozen=True)
class BuiltinStarted:
    """A built-in call (file_search_call, code_interpreter_call) begins: its item, in
    progress."""

    item: ItemJson


@dataclass(frozen=True)
class CodeStarted:
    """The program a code_interpreter call is about to run."""

    item_id: str
    code: str


@dataclass(frozen=True)
class BuiltinDone:
    """A built-in call ended: its item as the output shows it."""

    item: ItemJson


@dataclass(frozen=True)
class Finished:
    """The response is over: its final object (status, output, usage, error)."""

    response: JsonObject


ResponseEvent = TextDelta | BuiltinStarted | CodeStarted | BuiltinDone | Finished


def wire_events(stream: ResponseEvents, event: ResponseEvent) -> list[JsonObject]:
    """The stream's events for one of the service's: numbered, in OpenAI's order."""
    if isinstance(event, TextDelta):
        return stream.text(event.message_id, event.text, list(event.annotations))
    if isinstance(event, BuiltinStarted):
        return stream.builtin_started(event.item)
    if isinstance(event, CodeStarted):
        return stream.code(event.item_id, event.code)
    if isinstance(event, BuiltinDone):
        return stream.builtin_done(event.item)
    return stream.finish(event.response)
