"""Request-scoped access to what the app holds: the store and the model registry."""

from __future__ import annotations

from fastapi import Request

from airlock.engine.store import Store
from airlock.models.registry import Registry
from airlock.settings import Settings


def store(request: Request) -> Store:
    return request.app.state.store


def registry(request: Request) -> Registry:
    return request.app.state.registry


def settings(request: Request) -> Settings:
    return request.app.state.settings
