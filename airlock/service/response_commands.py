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
__all__ = ["Finished", "ItemJson", "JsonObject", "JsonValue", "ResponseCommand", "ResponseEvent",
           "ResponseEvents", "TextDelta", "command_json", "command_of", "new_id"]


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
    """Text of the reply, as the model decides it, for the message item `message_id`."""

    message_id: str
    text: str


@dataclass(frozen=True)
class Finished:
    """The response is over: its final object (status, output, usage, error)."""

    response: JsonObject


ResponseEvent = TextDelta | Finished
