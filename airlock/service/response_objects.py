"""The response object (docs/wire/responses.md): every field the SDK and the Open Responses
schema require, as it stands when created and when the turn has ended. It is the stored
record too, as rows are the wire objects on the Assistants side."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from airlock.engine.core.items import Outcome, Usage
from airlock.engine.response_state import closed
from airlock.models.backend import TokenLogprob
from airlock.service.response_commands import ResponseCommand
from airlock.store.ids import new_id
from airlock.store.records import ItemJson, JsonObject, JsonValue


@dataclass(frozen=True)
class Answer:
    """The message as the adapter showed it (text without citation markers, its annotations)
    and the built-in calls that ran before it (service.response_sink)."""

    message_id: str
    text: str
    annotations: list[JsonObject]
    builtins: list[ItemJson]


def new_object(cmd: ResponseCommand, response_id: str, model: str) -> JsonObject:
    return {
        "id": response_id, "object": "response", "created_at": int(time.time()),
        "status": "in_progress", "completed_at": None, "error": None,
        "incomplete_details": None, "model": model, "output": [], "usage": None,
        "previous_response_id": cmd.previous_response_id,
        "conversation": {"id": cmd.conversation_id} if cmd.conversation_id else None,
        **cmd.echo,
    }


def output_items(cmd: ResponseCommand, outcome: Outcome, answer: Answer,
                 logprobs: bool) -> list[ItemJson]:
    """The built-in calls the turn ran, the message (when the model answered) and the calls
    it made, in that order: the order they happened in."""
    items: list[ItemJson] = list(answer.builtins)
    if outcome.answered or outcome.text or not outcome.calls:
        part: JsonObject = {"type": "output_text", "text": answer.text,
                            "annotations": list(answer.annotations)}
        if logprobs:
            part["logprobs"] = [_logprob(t) for t in outcome.logprobs or []]
        items.append({"id": answer.message_id, "type": "message", "role": "assistant",
                      "status": "incomplete" if outcome.ending == "incomplete" else "completed",
                      "content": [part]})
    for call in outcome.calls:
        item: ItemJson
        if call.name in cmd.custom:
            item = {"id": new_id("custom_tool_call"), "type": "custom_tool_call",
                    "call_id": call.call_id, "name": call.name,
                    "input": _custom_input(call.arguments), "status": "completed"}
        else:
            item = {"id": new_id("function_call"), "type": "function_call",
                    "call_id": call.call_id, "name": call.name,
                    "arguments": call.arguments, "status": "completed"}
        if call.name in cmd.namespaces:
            item["namespace"] = cmd.namespaces[call.name]
        items.append(item)
    return items


def finish(response: JsonObject, status: str, output: list[ItemJson], usage: Usage | None,
           error: str | None = None) -> JsonObject:
    return closed(response, status, error=error, output=output,
                  usage=wire_usage(usage) if usage else None)


def wire_usage(usage: Usage) -> JsonObject:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.prompt_token_details.cached_tokens,
                                 "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _custom_input(arguments: str) -> str:
    """A custom tool's one string argument (the model filled {"input": ...} by grammar)."""
    try:
        value = json.loads(arguments).get("input", "")
    except (ValueError, AttributeError):
        return arguments
    return value if isinstance(value, str) else json.dumps(value)


def _logprob(t: TokenLogprob) -> JsonValue:
    return {"token": t.token, "bytes": list(t.bytes), "logprob": t.logprob,
            "top_logprobs": [{"token": a, "bytes": list(b), "logprob": lp} for a, b, lp in t.top]}
