"""The Conversations API end to end, through the strict openai client (docs/wire/conversations.md)."""

from __future__ import annotations

import openai

from helpers import (
    api_error,
    assert_not_found,
    assert_param,
    assert_recent,
    bad_request,
    dump,
    envelope,
    list_envelope,
    not_found,
)


def assert_item_missing(item_id, fn, *args, **kwargs):
    """A 404 worded as the Responses side words items: "Item with id '...' not found."."""
    body = not_found(fn, *args, **kwargs)
    assert body["message"] == f"Item with id '{item_id}' not found.", body


def user(text: str, **extra) -> dict:
    return {"type": "message", "role": "user", "content": text, **extra}


def all_items(client, conversation_id: str) -> list:
    return list(client.conversations.items.list(conversation_id, order="asc", limit=100))


def texts(items) -> list[str]:
    return [item.content[0].text for item in items]


# --- conversations ----------------------------------------------------------------------------


def test_create_with_items_and_metadata(client):
    conv = client.conversations.create(
        items=[
            {"role": "user", "content": "hello"},  # an "easy" message: no type
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "hi there"}]},
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "be brief"}]},
            {"type": "function_call", "call_id": "call_1", "name": "lookup",
             "arguments": '{"q": "x"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        ],
        metadata={"topic": "demo"},
    )
    assert conv.object == "conversation"
    assert conv.id.startswith("conv_")
    assert_recent(conv.created_at)
    assert conv.metadata == {"topic": "demo"}

    items = all_items(client, conv.id)
    assert [i.type for i in items] == ["message", "message", "message", "function_call",
                                       "function_call_output"]
    user_msg, reply, dev, call, output = (i.model_dump(mode="json", exclude_none=True)
                                          for i in items)
    assert user_msg["id"].startswith("msg_")
    assert (user_msg["role"], user_msg["status"]) == ("user", "completed")
    assert user_msg["content"] == [{"type": "input_text", "text": "hello"}]
    assert reply["role"] == "assistant"
    assert reply["content"][0]["type"] == "output_text"
    assert reply["content"][0]["text"] == "hi there"
    assert reply["content"][0]["annotations"] == []
    assert dev["content"] == [{"type": "input_text", "text": "be brief"}]
    assert call["id"].startswith("fc_")
    assert (call["call_id"], call["name"], call["arguments"]) == ("call_1", "lookup", '{"q": "x"}')
    assert (output["call_id"], output["output"]) == ("call_1", "42")


def test_create_empty(client):
    conv = client.conversations.create()
    assert conv.metadata == {}
    assert all_items(client, conv.id) == []


def test_retrieve_matches_create(client):
    conv = client.conversations.create(metadata={"a": "b"})
    assert dump(client.conversations.retrieve(conv.id)) == dump(conv)


def test_update_replaces_metadata(client, raw):
    conv = client.conversations.create(metadata={"a": "1", "b": "2"})
    updated = client.conversations.update(conv.id, metadata={"c": "3"})
    assert (updated.id, updated.created_at, updated.metadata) == (conv.id, conv.created_at,
                                                                  {"c": "3"})
    assert client.conversations.retrieve(conv.id).metadata == {"c": "3"}
    # metadata is required; null empties it.
    err = envelope(raw.post(f"/conversations/{conv.id}", json={}), 400)
    assert_param(err, "metadata")
    assert client.conversations.update(conv.id, metadata=None).metadata == {}


def test_metadata_limits(client):
    body = bad_request(client.conversations.create, metadata={f"k{i}": "v" for i in range(17)})
    assert_param(body, "metadata")
    body = bad_request(client.conversations.create, metadata={"k": "v" * 513})
    assert_param(body, "metadata")
    conv = client.conversations.create()
    body = bad_request(client.conversations.update, conv.id, metadata={"k" * 65: "v"})
    assert_param(body, "metadata")


def test_delete_then_404(client, raw):
    conv = client.conversations.create(items=[user("bye")])
    item_id = all_items(client, conv.id)[0].id
    gone = client.conversations.delete(conv.id)
    assert (gone.id, gone.object, gone.deleted) == (conv.id, "conversation.deleted", True)
    assert_not_found("conversation", conv.id, client.conversations.retrieve, conv.id)
    assert_not_found("conversation", conv.id, client.conversations.items.list, conv.id)
    assert_not_found("conversation", conv.id, client.conversations.items.retrieve, item_id,
                     conversation_id=conv.id)
    assert_not_found("conversation", conv.id, client.conversations.delete, conv.id)
    err = envelope(raw.delete(f"/conversations/{conv.id}"), 404)
    assert conv.id in err["message"]


def test_unknown_ids_are_404_envelopes(client, raw):
    for method, path in (("GET", "/conversations/conv_nope"),
                         ("POST", "/conversations/conv_nope"),
                         ("DELETE", "/conversations/conv_nope"),
                         ("GET", "/conversations/conv_nope/items"),
                         ("GET", "/conversations/conv_nope/items/msg_nope"),
                         ("DELETE", "/conversations/conv_nope/items/msg_nope")):
        body = {"metadata": {}} if method == "POST" else None
        err = envelope(raw.request(method, path, json=body), 404)
        assert err["message"] == "No conversation found with id 'conv_nope'.", (path, err)
    err = envelope(raw.post("/conversations/conv_nope/items", json={"items": [user("x")]}), 404)
    assert err["message"] == "No conversation found with id 'conv_nope'."

    conv = client.conversations.create(items=[user("here")])
    assert_item_missing("msg_nope", client.conversations.items.retrieve, "msg_nope",
                     conversation_id=conv.id)
    assert_item_missing("msg_nope", client.conversations.items.delete, "msg_nope",
                     conversation_id=conv.id)
    # An item is found only in its own conversation.
    other = client.conversations.create()
    mine = all_items(client, conv.id)[0].id
    assert_item_missing(mine, client.conversations.items.retrieve, mine,
                     conversation_id=other.id)


def test_unknown_body_field_is_400(client, raw):
    err = envelope(raw.post("/conversations", json={"metadata": {}, "title": "x"}), 400)
    assert (err["param"], err["code"]) == ("title", "unknown_parameter")
    conv = client.conversations.create()
    err = envelope(raw.post(f"/conversations/{conv.id}", json={"metadata": {}, "items": []}),
                   400)
    assert err["param"] == "items"
    err = envelope(raw.post(f"/conversations/{conv.id}/items",
                            json={"items": [user("x")], "metadata": {}}), 400)
    assert err["param"] == "metadata"
    body = bad_request(client.conversations.create, extra_body={"store": True})
    assert_param(body, "store")


def test_safety_identifier_is_accepted(client):
    # A keyword in openai 3.x; 2.x has no such parameter.
    conv = client.conversations.create(extra_body={"safety_identifier": "user-123"})
    assert conv.metadata == {}


# --- items ------------------------------------------------------------------------------------


def test_items_create_returns_the_items_in_order(client):
    conv = client.conversations.create(items=[user("one")])
    added = client.conversations.items.create(
        conv.id, items=[user("two", id="msg_client_two"), user("three")])
    assert added.object == "list"
    assert [i.id for i in added.data][0] == "msg_client_two"
    assert (added.first_id, added.last_id) == (added.data[0].id, added.data[-1].id)
    assert added.has_more is False
    assert texts(added.data) == ["two", "three"]
    assert texts(all_items(client, conv.id)) == ["one", "two", "three"]
    # Returned as they are then read.
    assert [dump(i) for i in added.data] == [dump(i) for i in all_items(client, conv.id)[1:]]


def test_items_list_pages(client, raw):
    conv = client.conversations.create(items=[user(str(n)) for n in range(5)])
    newest_first = client.conversations.items.list(conv.id)  # default order: desc
    assert texts(newest_first.data) == ["4", "3", "2", "1", "0"]
    assert newest_first.has_more is False

    first = client.conversations.items.list(conv.id, limit=2)
    assert texts(first.data) == ["4", "3"]
    assert first.has_more is True
    assert first.last_id == first.data[-1].id
    second = client.conversations.items.list(conv.id, limit=2, after=first.last_id)
    assert texts(second.data) == ["2", "1"]
    last = client.conversations.items.list(conv.id, limit=2, after=second.last_id)
    assert texts(last.data) == ["0"]
    assert last.has_more is False

    asc = client.conversations.items.list(conv.id, order="asc", limit=3)
    assert texts(asc.data) == ["0", "1", "2"]
    assert asc.has_more is True
    rest = client.conversations.items.list(conv.id, order="asc", after=asc.last_id)
    assert texts(rest.data) == ["3", "4"]

    page = list_envelope(raw.get(f"/conversations/{conv.id}/items", params={"limit": 100}))
    assert len(page["data"]) == 5
    for limit in (0, 101):
        err = envelope(raw.get(f"/conversations/{conv.id}/items", params={"limit": limit}), 400)
        assert err["param"] == "limit"
    body = bad_request(client.conversations.items.list, conv.id, limit=0)
    assert_param(body, "limit")
    err = envelope(raw.get(f"/conversations/{conv.id}/items", params={"order": "up"}), 400)
    assert err["param"] == "order"
    body = bad_request(client.conversations.items.list, conv.id, after="msg_not_here")
    assert_param(body, "after")


def test_empty_list_page(raw, client):
    conv = client.conversations.create()
    page = list_envelope(raw.get(f"/conversations/{conv.id}/items"))
    assert page == {"object": "list", "data": [], "first_id": None, "last_id": None,
                    "has_more": False}


def test_auto_pagination_visits_every_item_once(client):
    conv = client.conversations.create(items=[user(str(n)) for n in range(7)])
    client.conversations.items.create(conv.id, items=[user(str(n)) for n in range(7, 11)])
    seen = [item.id for item in client.conversations.items.list(conv.id, limit=2)]
    assert len(seen) == len(set(seen)) == 11
    assert texts(client.conversations.items.retrieve(i, conversation_id=conv.id)
                 for i in seen) == [str(n) for n in reversed(range(11))]
    ascending = [item.id for item in client.conversations.items.list(conv.id, limit=3,
                                                                      order="asc")]
    assert ascending == seen[::-1]


def test_item_retrieve_and_delete(client):
    conv = client.conversations.create(items=[user("keep"), user("drop")], metadata={"m": "1"})
    keep, drop = all_items(client, conv.id)
    assert dump(client.conversations.items.retrieve(drop.id, conversation_id=conv.id)) == \
        dump(drop)
    after = client.conversations.items.delete(drop.id, conversation_id=conv.id)
    assert isinstance(after, openai.types.conversations.Conversation)
    assert dump(after) == dump(client.conversations.retrieve(conv.id))
    assert after.metadata == {"m": "1"}
    assert [i.id for i in all_items(client, conv.id)] == [keep.id]
    assert_item_missing(drop.id, client.conversations.items.retrieve, drop.id,
                     conversation_id=conv.id)
    # Its id is free again in this conversation.
    client.conversations.items.create(conv.id, items=[user("back", id=drop.id)])
    assert texts(all_items(client, conv.id)) == ["keep", "back"]


def test_same_item_id_in_two_conversations(client):
    a = client.conversations.create(items=[user("a", id="msg_shared")])
    b = client.conversations.create(items=[user("b", id="msg_shared")])
    assert texts([client.conversations.items.retrieve("msg_shared", conversation_id=a.id)]) == ["a"]
    assert texts([client.conversations.items.retrieve("msg_shared", conversation_id=b.id)]) == ["b"]
    client.conversations.items.delete("msg_shared", conversation_id=a.id)
    assert texts(all_items(client, b.id)) == ["b"]


# --- refusals, each leaving the conversation as it was -----------------------------------------


def test_duplicate_ids_are_400_naming_the_item(client):
    body = bad_request(client.conversations.create,
                       items=[user("a", id="msg_dup"), user("b", id="msg_dup")])
    assert_param(body, "items[1].id")
    assert "msg_dup" in body["message"]

    conv = client.conversations.create(items=[user("a", id="msg_here")])
    body = bad_request(client.conversations.items.create, conv.id,
                       items=[user("new"), user("again", id="msg_here")])
    assert_param(body, "items[1].id")
    body = bad_request(client.conversations.items.create, conv.id,
                       items=[user("x", id="msg_twice"), user("y", id="msg_twice")])
    assert_param(body, "items[1].id")
    # Nothing of a refused request was written.
    assert texts(all_items(client, conv.id)) == ["a"]


def test_more_than_20_items_is_400(client):
    body = bad_request(client.conversations.create, items=[user(str(n)) for n in range(21)])
    assert_param(body, "items")
    conv = client.conversations.create(items=[user(str(n)) for n in range(20)])
    body = bad_request(client.conversations.items.create, conv.id,
                       items=[user(str(n)) for n in range(21)])
    assert_param(body, "items")
    body = bad_request(client.conversations.items.create, conv.id, items=[])
    assert_param(body, "items")
    assert len(all_items(client, conv.id)) == 20


def test_image_part_is_400_naming_it(client):
    image = {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}]}
    body = bad_request(client.conversations.create, items=[user("fine"), image])
    assert_param(body, "items[1].content[1].type")
    conv = client.conversations.create(items=[user("fine")])
    body = bad_request(client.conversations.items.create, conv.id, items=[user("ok"), image])
    assert_param(body, "items[1].content[1].type")
    assert texts(all_items(client, conv.id)) == ["fine"]


def test_bad_items_name_their_param(client, raw):
    conv = client.conversations.create()
    body = bad_request(client.conversations.items.create, conv.id,
                       items=[{"type": "web_search_call", "id": "ws_1", "status": "completed"}])
    assert_param(body, "items[0].type")
    body = bad_request(client.conversations.items.create, conv.id,
                       items=[user("ok"), {"type": "message", "role": "pirate", "content": "x"}])
    assert_param(body, "items[1].role")
    err = envelope(raw.post(f"/conversations/{conv.id}/items", json={"items": ["hello"]}), 400)
    assert err["param"] == "items[0]"
    err = envelope(raw.post(f"/conversations/{conv.id}/items", json={}), 400)
    assert err["param"] == "items"
    body = bad_request(client.conversations.items.create, conv.id,
                       items=[user("long id", id="msg_" + "x" * 80)])
    assert_param(body, "items[0].id")
    assert all_items(client, conv.id) == []


def test_item_reference(client):
    conv = client.conversations.create(items=[user("first", id="msg_ref_first")])
    body = api_error(openai.NotFoundError, client.conversations.items.create, conv.id,
                     items=[user("ok"), {"type": "item_reference", "id": "msg_nowhere"}]).body
    assert_param(body, "items[1].id")
    assert "msg_nowhere" in body["message"]
    # A reference to an item already in this conversation would repeat it.
    body = bad_request(client.conversations.items.create, conv.id,
                       items=[{"type": "item_reference", "id": "msg_ref_first"}])
    assert_param(body, "items[0].id")
    assert texts(all_items(client, conv.id)) == ["first"]


def test_include_is_accepted(client, raw):
    conv = client.conversations.create(items=[user("x")])
    include = ["message.output_text.logprobs", "file_search_call.results"]
    added = client.conversations.items.create(conv.id, items=[user("y")], include=include)
    assert texts(added.data) == ["y"]
    assert texts(client.conversations.items.list(conv.id, include=include, order="asc")) == \
        ["x", "y"]
    got = client.conversations.items.retrieve(added.data[0].id, conversation_id=conv.id,
                                              include=include)
    assert texts([got]) == ["y"]
    err = envelope(raw.get(f"/conversations/{conv.id}/items",
                           params={"include[]": "everything"}), 400)
    assert err["param"] == "include"
