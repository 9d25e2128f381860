"""/v1/containers bodies and objects, as openai-python's `containers` resource sends and reads
them (docs/wire/containers.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from airlock.server.wire.common import Strict

# How long an idle container may live, in minutes after it was last active.
MAX_MINUTES = 1440


class ExpiresAfter(Strict):
    anchor: Literal["last_active_at"]
    minutes: int = Field(ge=1, le=MAX_MINUTES)


class NetworkPolicy(Strict):
    type: Literal["disabled", "allowlist"]
    allowed_domains: list[str] | None = None


class ContainerCreate(Strict):
    name: str = Field(min_length=1, max_length=256)
    file_ids: list[Annotated[str, Field(min_length=1)]] = []
    expires_after: ExpiresAfter | None = None
    memory_limit: Literal["1g", "4g", "16g", "64g"] | None = None
    network_policy: NetworkPolicy | None = None
    skills: list[dict[str, Any]] | None = None


class ContainerFileCreate(Strict):
    file_id: str = Field(min_length=1)


def container_object(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "container", "created_at": row["created_at"],
            "name": row["name"], "status": row["status"],
            "expires_after": {"anchor": "last_active_at", "minutes": row["expires_minutes"]},
            "last_active_at": row["last_active_at"], "memory_limit": row["memory_limit"],
            "network_policy": {"type": "disabled"}}


def file_object(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "container.file", "container_id": row["container_id"],
            "created_at": row["created_at"], "bytes": row["bytes"],
            "path": row["container_path"], "source": row["source"]}
