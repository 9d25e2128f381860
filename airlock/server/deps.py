"""Request-scoped access to the services and settings the app holds.

These are `async def` on purpose: FastAPI runs sync dependencies on a worker thread, and a
thread hop per dependency costs more than the lookup itself.
"""

from __future__ import annotations

from fastapi import Request

from airlock.service import Services
from airlock.settings import Settings


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def settings(request: Request) -> Settings:
    cfg: Settings = request.app.state.services.cfg
    return cfg
