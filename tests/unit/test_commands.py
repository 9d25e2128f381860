"""Service commands mirror the server's request models: every field a client may send has a
typed key in the command the router builds from it (service/commands.py)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from airlock.server.wire import common as wc
from airlock.server.wire import requests as rq
from airlock.server.wire import vector_stores as vs
from airlock.service import commands as cmd

PAIRS: list[tuple[type[BaseModel], type]] = [
    (rq.AssistantCreate, cmd.AssistantCreate),
    (rq.AssistantUpdate, cmd.AssistantUpdate),
    (rq.MessageCreate, cmd.MessageFields),
    (rq.MetadataUpdate, cmd.MetadataFields),
    (rq.ThreadCreate, cmd.ThreadFields),
    (rq.ThreadUpdate, cmd.ThreadFields),
    (rq.RunCreate, cmd.RunFields),
    (rq.ThreadAndRunCreate, cmd.RunFields),
    (wc.ToolResources, cmd.ToolResourcesIn),
    (wc.FileSearchResources, cmd.FileSearchResourcesIn),
    (wc.NewVectorStore, cmd.NewVectorStore),
    (vs.VectorStoreCreate, cmd.NewVectorStore),
    (vs.VectorStoreUpdate, cmd.NewVectorStore),
    (vs.VectorStoreFileCreate, cmd.VectorStoreFileFields),
    (vs.BatchFile, cmd.VectorStoreFileFields),
    (vs.FileBatchCreate, cmd.BatchFields),
    (wc.ChunkingStrategy, cmd.ChunkingIn),
]


@pytest.mark.parametrize(("model", "command"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_every_request_field_has_a_command_key(model: type[BaseModel], command: type) -> None:
    sent = {f.alias or name for name, f in model.model_fields.items()}
    keys = command.__required_keys__ | command.__optional_keys__  # type: ignore[attr-defined]
    assert sent <= keys, f"{command.__name__} lacks {sorted(sent - keys)}"
