"""Request-scoped access to what the app holds: the store and the model registry.

These are `async def` on purpose: FastAPI runs sync dependencies on a worker thread, and a
thread hop per dependency costs more than the lookup itself.
"""

from __future__ import annotations

from fastapi import Request

from airlock.engine.service import Engine
from airlock.engine.store import Store
from airlock.models.registry import Registry
from airlock.settings import Settings


async def store(request: Request) -> Store:
    return request.app.state.store


async def registry(request: Request) -> Registry:
    return request.app.state.registry


async def settings(request: Request) -> Settings:
    return request.app.state.settings


async def engine(request: Request) -> Engine:
    return request.app.state.engine
