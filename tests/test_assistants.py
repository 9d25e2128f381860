from __future__ import annotations

from helpers import (
    assert_not_found,
    assert_param,
    assert_param_startswith,
    assert_recent,
    bad_request,
    dump,
    ids,
    upload,
)

FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def make(client, **kwargs):
    kwargs.setdefault("model", "gpt-4o")
    return client.beta.assistants.create(**kwargs)


def fn_tool(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


def test_create_returns_all_fields(client):
    a = make(
        client,
        name="Helper",
        description="Helps",
        instructions="Be brief.",
        metadata={"team": "qa"},
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}, FUNCTION_TOOL],
        temperature=0.5,
        top_p=0.9,
        response_format={"type": "json_object"},
    )
    assert a.id.startswith("asst_")
    assert a.object == "assistant"
    assert_recent(a.created_at)
    assert (a.model, a.name, a.description, a.instructions) == ("gpt-4o", "Helper", "Helps", "Be brief.")
    assert a.metadata == {"team": "qa"}
    assert [t.type for t in a.tools] == ["code_interpreter", "file_search", "function"]
    assert a.tools[2].function.name == "get_weather"
    assert a.tools[2].function.parameters == FUNCTION_TOOL["function"]["parameters"]
    assert a.temperature == 0.5 and a.top_p == 0.9
    assert a.response_format.type == "json_object"


def test_create_minimal_defaults(client):
    a = make(client, model="any-model-name")
    assert a.model == "any-model-name"
    assert a.name is None and a.description is None and a.instructions is None
    assert a.tools == []
    assert a.metadata == {}


def test_retrieve_matches_create(client):
    a = make(client, name="r", metadata={"k": "v"}, tools=[FUNCTION_TOOL])
    assert dump(client.beta.assistants.retrieve(a.id)) == dump(a)


def test_update_changes_only_given_fields_and_replaces_metadata(client):
    a = make(client, name="before", instructions="keep me", metadata={"a": "1", "b": "2"})
    u = client.beta.assistants.update(a.id, name="after", metadata={"c": "3"})
    assert u.id == a.id and u.created_at == a.created_at
    assert u.name == "after"
    assert u.instructions == "keep me"
    assert u.metadata == {"c": "3"}
    assert dump(client.beta.assistants.retrieve(a.id)) == dump(u)


def test_list_newest_first_and_cursor(client):
    created = [make(client, name=f"list-{i}") for i in range(4)]
    page = client.beta.assistants.list(limit=3)
    assert ids(page.data) == ids(created[1:])[::-1]
    assert page.has_more is True
    after = client.beta.assistants.list(order="asc", after=created[0].id, limit=10)
    assert ids(after.data) == ids(created[1:])
    assert after.has_more is False


def test_delete_then_gone(client):
    a = make(client)
    d = client.beta.assistants.delete(a.id)
    assert (d.id, d.object, d.deleted) == (a.id, "assistant.deleted", True)
    assert_not_found("assistant", a.id, client.beta.assistants.retrieve, a.id)
    assert_not_found("assistant", a.id, client.beta.assistants.delete, a.id)
    assert a.id not in ids(client.beta.assistants.list(limit=100).data)


def test_unknown_id_is_404_everywhere(client):
    missing = "asst_doesnotexist"
    assert_not_found("assistant", missing, client.beta.assistants.retrieve, missing)
    assert_not_found("assistant", missing, client.beta.assistants.update, missing, name="x")
    assert_not_found("assistant", missing, client.beta.assistants.delete, missing)


def test_missing_model_is_400(raw):
    r = raw.post("/assistants", json={"name": "no model"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "model"


def test_function_name_validation(client):
    body = bad_request(make, client, tools=[fn_tool("has space")])
    assert_param(body, "tools[0].function.name")
    body = bad_request(make, client, tools=[{"type": "code_interpreter"}, fn_tool("x" * 65)])
    assert_param(body, "tools[1].function.name")
    ok = make(client, tools=[fn_tool("A-z_09" + "y" * 58)])
    assert ok.tools[0].function.name == "A-z_09" + "y" * 58


def test_tool_count_limit(client):
    assert len(make(client, tools=[fn_tool(f"f{i}") for i in range(128)]).tools) == 128
    body = bad_request(make, client, tools=[fn_tool(f"f{i}") for i in range(129)])
    assert_param(body, "tools")


def test_unknown_tool_type_is_400(client):
    body = bad_request(make, client, tools=[{"type": "web_browser"}])
    assert_param_startswith(body, "tools")


def test_tool_resources_round_trip(client):
    f = upload(client)
    a = make(client, tools=[{"type": "code_interpreter"}],
             tool_resources={"code_interpreter": {"file_ids": [f.id]}})
    assert a.tool_resources.code_interpreter.file_ids == [f.id]
    assert client.beta.assistants.retrieve(a.id).tool_resources.code_interpreter.file_ids == [f.id]


def test_tool_resources_limits(client):
    file_ids = [upload(client, content=b"%d" % i).id for i in range(21)]
    body = bad_request(make, client, tool_resources={"code_interpreter": {"file_ids": file_ids}})
    assert_param(body, "tool_resources.code_interpreter.file_ids")
    assert make(client, tool_resources={"code_interpreter": {"file_ids": file_ids[:20]}})
    body = bad_request(make, client, tool_resources={"file_search": {"vector_store_ids": ["vs_a", "vs_b"]}})
    assert_param_startswith(body, "tool_resources.file_search.vector_store_ids")


def test_tool_resources_unknown_file_is_400(client):
    body = bad_request(make, client, tool_resources={"code_interpreter": {"file_ids": ["file-nope"]}})
    assert_param_startswith(body, "tool_resources.code_interpreter.file_ids")


def test_metadata_limits(client):
    ok = {f"k{i}": "v" for i in range(15)}
    ok["x" * 64] = "y" * 512
    assert make(client, metadata=ok).metadata == ok
    for bad in (
        {f"k{i}": "v" for i in range(17)},
        {"x" * 65: "v"},
        {"k": "y" * 513},
    ):
        assert_param(bad_request(make, client, metadata=bad), "metadata")
