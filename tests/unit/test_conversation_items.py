"""What the Responses service calls on its own connection: `items_of`, `check_append`, `append`
(airlock/service/conversations.py), and item_reference resolution against stored responses."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from airlock.errors import InvalidRequest, Missing, NotFound
from airlock.service import conversations
from airlock.store import Store, crud
from airlock.store.tables import Conversation, Response, ResponseItem


def message(item_id: str, text: str) -> dict:
    return {"id": item_id, "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_text", "text": text}]}


def new_conversation(store: Store, *items: dict) -> str:
    with store.begin() as conn:
        return conversations.create_with(conn, list(items), {})["id"]


def texts(store: Store, conversation_id: str) -> list[str]:
    with store.read_conn() as conn:
        return [item["content"][0]["text"] for item in conversations.items_of(conn, conversation_id)]


def test_items_of_is_oldest_first(store: Store):
    conv = new_conversation(store, message("msg_a", "a"), message("msg_b", "b"))
    with store.begin() as conn:
        conversations.append(conn, conv, [message("msg_c", "c"), message("msg_d", "d")])
    assert texts(store, conv) == ["a", "b", "c", "d"]


def test_unknown_conversation_is_404(store: Store):
    with store.read_conn() as conn, pytest.raises(NotFound) as info:
        conversations.items_of(conn, "conv_nope")
    assert info.value.message == "No conversation found with id 'conv_nope'."
    with store.begin() as conn, pytest.raises(NotFound):
        conversations.append(conn, "conv_nope", [message("msg_x", "x")])


@pytest.mark.parametrize("items", [
    [message("msg_a", "again")],                                 # already in the conversation
    [message("msg_new", "new"), message("msg_new", "twice")],    # twice in one call
])
def test_append_refuses_duplicates_naming_input(store: Store, items: list[dict]):
    conv = new_conversation(store, message("msg_a", "a"))
    with pytest.raises(InvalidRequest) as info, store.begin() as conn:
        conversations.append(conn, conv, items)
    assert info.value.param == "input"
    assert texts(store, conv) == ["a"]


def test_check_append_refuses_what_append_would_and_writes_nothing(store: Store):
    conv = new_conversation(store, message("msg_a", "a"))
    with store.read_conn() as conn:
        conversations.check_append(conn, conv, [message("msg_b", "b")])
        with pytest.raises(InvalidRequest) as info:
            conversations.check_append(conn, conv, [message("msg_b", "b"), message("msg_a", "a")])
        assert info.value.param == "input"
        with pytest.raises(NotFound):
            conversations.check_append(conn, "conv_nope", [])
    assert texts(store, conv) == ["a"]


def _stored_response(conn: Connection, *items: tuple[str, dict]) -> None:
    crud.add(conn, Response, {"id": "resp_1", "created_at": 0, "status": "completed",
                              "model": "scripted", "previous_response_id": None,
                              "conversation_id": None, "body": {}})
    for role, item in items:
        crud.add(conn, ResponseItem, {"id": item["id"], "response_id": "resp_1", "role": role,
                                      "item": item})


def test_item_reference_resolves_to_a_stored_response_item(store: Store):
    reply = {"id": "msg_out", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "from a response", "annotations": []}]}
    with store.begin() as conn:
        _stored_response(conn, ("input", message("msg_in", "asked")), ("output", reply))
    conv = new_conversation(store)
    with store.begin() as conn:
        stored = conversations._create_items(conn, conv, [
            {"type": "item_reference", "id": "msg_in"},
            {"type": "item_reference", "id": "msg_out"}])
    assert [i["id"] for i in stored] == ["msg_in", "msg_out"]
    with store.read_conn() as conn:
        assert conversations.items_of(conn, conv) == [message("msg_in", "asked"), reply]


def test_unknown_reference_names_its_item_and_writes_nothing(store: Store):
    conv = new_conversation(store, message("msg_a", "a"))
    with pytest.raises(Missing) as info, store.begin() as conn:
        conversations._create_items(conn, conv, [message("msg_b", "b"),
                                                 {"type": "item_reference", "id": "msg_gone"}])
    assert info.value.param == "items[1].id"
    assert texts(store, conv) == ["a"]


def test_create_with_a_bad_item_creates_no_conversation(store: Store):
    with pytest.raises(InvalidRequest), store.begin() as conn:
        conversations.create_with(conn, [message("msg_a", "a"), message("msg_a", "b")], {})
    with store.read_conn() as conn:
        assert conn.execute(crud.table_of(Conversation).select()).first() is None


def test_a_duplicate_that_slips_past_the_check_is_still_a_400(store: Store, monkeypatch):
    """Two requests adding the same id at once both pass the check; the unique index stops the
    second, and it is a 400 naming the item, not a 500."""
    conv = new_conversation(store, message("msg_a", "a"))
    monkeypatch.setattr(conversations, "_refuse_duplicates", lambda *args: None)
    with pytest.raises(InvalidRequest) as info, store.begin() as conn:
        conversations._create_items(conn, conv, [message("msg_a", "again")])
    assert info.value.param == "items[0].id"
    assert texts(store, conv) == ["a"]
