"""What a response reads: the items before it (a previous response's chain, or a
conversation), its own input with item references resolved, and those items as the turn
core's items."""

from __future__ import annotations

import json

from sqlalchemy import Connection, select

from airlock.engine.core.items import FunctionCall, FunctionOutput, Item, Message
from airlock.errors import InvalidRequest, Missing
from airlock.service import conversations
from airlock.service.response_commands import ResponseCommand
from airlock.service.stored_items import referenced
from airlock.store import crud
from airlock.store.records import ItemJson, JsonValue
from airlock.store.tables import Response, ResponseItem


def response_not_found(response_id: str, param: str | None = None) -> Missing:
    return Missing(f"Response with id '{response_id}' not found.", param=param)


def gather(conn: Connection, cmd: ResponseCommand) -> tuple[list[ItemJson], list[ItemJson], str]:
    """(the items before this response, its input with references resolved, the key its
    conversation's KV state and scripted replies go by: the conversation, or the chain's
    first response). In a conversation, the input's new items are checked to fit in it (no
    duplicate id) before the turn runs."""
    history: list[ItemJson] = []
    root = ""
    if cmd.previous_response_id is not None:
        history, root = chain(conn, cmd.previous_response_id)
    elif cmd.conversation_id is not None:
        history = conversations.items_of(conn, cmd.conversation_id)
        root = cmd.conversation_id
    inputs = [_resolve(conn, item, history, i) for i, item in enumerate(cmd.input)]
    if cmd.conversation_id is not None:
        conversations.check_append(conn, cmd.conversation_id, new_items(cmd, history, inputs))
    return history, inputs, root


def new_items(cmd: ResponseCommand, history: list[ItemJson], inputs: list[ItemJson]
              ) -> list[ItemJson]:
    """The input items a conversation gains: all but references to its own items (those
    resolve to the item already there). An item sent again in full is a duplicate (400)."""
    known = {item.get("id") for item in history}
    return [item for sent, item in zip(cmd.input, inputs, strict=True)
            if not (sent.get("type") == "item_reference" and item.get("id") in known)]


def chain(conn: Connection, response_id: str) -> tuple[list[ItemJson], str]:
    """Every item of a stored response and those before it, oldest first, and the chain's
    first response id."""
    rt, it = crud.table_of(Response), crud.table_of(ResponseItem)
    parts: list[list[ItemJson]] = []
    current: str | None = response_id
    root = response_id
    while current is not None:
        row = conn.execute(select(rt.c.id, rt.c.previous_response_id)
                           .where(rt.c.id == current)).first()
        if row is None:
            raise response_not_found(current, "previous_response_id")
        items = conn.execute(select(it.c.item).where(it.c.response_id == current)
                             .order_by(it.c.seq)).scalars()
        parts.append(list(items))
        root, current = row.id, row.previous_response_id
    return [item for part in reversed(parts) for item in part], root


def _resolve(conn: Connection, item: ItemJson, history: list[ItemJson], i: int) -> ItemJson:
    if item.get("type") != "item_reference":
        return item
    return referenced(conn, str(item["id"]), f"input[{i}].id", earlier=history)


def to_core(instructions: str | None, items: list[ItemJson]) -> tuple[str, list[Item]]:
    """The core's instructions (the request's, then system and developer messages) and items.
    An output must answer an earlier call, as OpenAI requires."""
    system = [instructions] if instructions else []
    out: list[Item] = []
    calls: set[str] = set()
    for item in items:
        kind = item.get("type")
        if kind == "message":
            role, text = str(item["role"]), _text(item.get("content"))
            if role in ("system", "developer"):
                if text:
                    system.append(text)
            elif role in ("user", "assistant"):
                out.append(Message(role, text))  # type: ignore[arg-type]
        elif kind in ("function_call", "custom_tool_call"):
            arguments = (str(item["arguments"]) if kind == "function_call"
                         else json.dumps({"input": item["input"]}))
            out.append(FunctionCall(str(item["call_id"]), str(item["name"]), arguments))
            calls.add(str(item["call_id"]))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if item["call_id"] not in calls:
                raise InvalidRequest(f"No tool call found for function call output with "
                                     f"call_id {item['call_id']}.", param="input")
            out.append(FunctionOutput(str(item["call_id"]), str(item["output"])))
    return "\n\n".join(system), out


def _text(content: JsonValue) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict):
            value = part.get("text", part.get("refusal"))
            if isinstance(value, str):
                texts.append(value)
    return "\n".join(texts)
