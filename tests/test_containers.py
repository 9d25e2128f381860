"""The Containers API through the strict openai client: containers created (with Files copied
in), listed by name and page, retrieved, deleted; their files uploaded or copied from a File,
listed, read back byte for byte, deleted; and what is refused (network allowlists, skills,
unknown ids, an expired container's files)."""

from __future__ import annotations

import io

import openai
import pytest

from helpers import api_error


@pytest.fixture(scope="module")
def server(start_server):
    return start_server("containers", "--model", "scripted")


@pytest.fixture(scope="module")
def client(server):
    c = server.client()
    yield c
    c.close()


def test_create_retrieve_list_delete(client):
    data = client.files.create(file=("data.csv", b"x,y\n1,2\n"), purpose="assistants")
    c = client.containers.create(name="analysis", file_ids=[data.id],
                                 expires_after={"anchor": "last_active_at", "minutes": 5},
                                 memory_limit="4g")
    assert c.id.startswith("cntr_") and c.object == "container" and c.status == "running"
    assert c.name == "analysis" and c.memory_limit == "4g"
    assert c.expires_after.anchor == "last_active_at" and c.expires_after.minutes == 5
    assert c.last_active_at >= c.created_at
    assert client.containers.retrieve(c.id).name == "analysis"
    (copied,) = client.containers.files.list(c.id).data
    assert copied.path == "/mnt/data/data.csv" and copied.source == "user"
    assert copied.bytes == 8 and copied.container_id == c.id
    # Deleting the File leaves the container's copy.
    client.files.delete(data.id)
    assert client.containers.files.content.retrieve(copied.id, container_id=c.id).read() == \
        b"x,y\n1,2\n"

    other = client.containers.create(name="other")
    assert other.expires_after.minutes == 20 and other.memory_limit == "1g"
    named = client.containers.list(name="analysis").data
    assert [x.id for x in named] == [c.id]
    page = client.containers.list(limit=1)
    assert [x.id for x in page.data] == [other.id] and page.has_more
    assert client.containers.list(after=other.id).data[0].id == c.id

    client.containers.delete(c.id)
    api_error(openai.NotFoundError, client.containers.retrieve, c.id)
    api_error(openai.NotFoundError, client.containers.files.list, c.id)


def test_files_uploaded_copied_read_and_deleted(client):
    c = client.containers.create(name="files")
    up = client.containers.files.create(c.id, file=("notes.txt", io.BytesIO(b"hello")))
    assert up.object == "container.file" and up.path == "/mnt/data/notes.txt"
    src = client.files.create(file=("a.json", b'{"a": 1}'), purpose="assistants")
    cp = client.containers.files.create(c.id, file_id=src.id)
    assert cp.path == "/mnt/data/a.json" and cp.bytes == 8
    assert [f.id for f in client.containers.files.list(c.id, order="asc").data] == [up.id, cp.id]
    assert client.containers.files.retrieve(up.id, container_id=c.id).bytes == 5
    assert client.containers.files.content.retrieve(up.id, container_id=c.id).read() == b"hello"
    client.containers.files.delete(up.id, container_id=c.id)
    assert [f.id for f in client.containers.files.list(c.id).data] == [cp.id]
    api_error(openai.NotFoundError, client.containers.files.retrieve, up.id, container_id=c.id)
    # A path sent with an upload never places a file outside /mnt/data.
    sneaky = client.containers.files.create(c.id, file=("../../etc/x.txt", io.BytesIO(b"x")))
    assert sneaky.path == "/mnt/data/x.txt"


@pytest.mark.parametrize("kw, param", [
    ({"network_policy": {"type": "allowlist", "allowed_domains": ["pypi.org"]}},
     "network_policy.type"),
    ({"skills": [{"type": "skill_reference", "skill_id": "s"}]}, "skills"),
    ({"file_ids": ["file-missing"]}, "file_ids[0]"),
    ({"expires_after": {"anchor": "last_active_at", "minutes": 0}}, "expires_after.minutes"),
    ({"memory_limit": "2g"}, "memory_limit"),
])
def test_what_is_refused_names_the_param(client, kw, param):
    e = api_error(openai.BadRequestError, client.containers.create, name="x", **kw)
    assert e.body["param"] == param, e.body


def test_unknown_ids_are_404s(client):
    api_error(openai.NotFoundError, client.containers.retrieve, "cntr_missing")
    api_error(openai.NotFoundError, client.containers.delete, "cntr_missing")
    c = client.containers.create(name="x")
    api_error(openai.NotFoundError, client.containers.files.retrieve, "cfile_missing",
              container_id=c.id)
    e = api_error(openai.BadRequestError, client.containers.files.create, c.id,
                  file_id="file-missing")
    assert e.body["param"] == "file_id"
