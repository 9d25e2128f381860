"""The FastAPI application: store and registry on app.state, guard, routers, error envelopes."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from airlock.engine.store import Store
from airlock.models.registry import Registry
from airlock.server import assistants, errors, files, health, messages, models, runs, threads
from airlock.server.guard import Guard
from airlock.settings import Settings


def create_app(cfg: Settings, registry: Registry) -> FastAPI:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.resolved_database_url(), cfg.files_dir,
                  sqlite_synchronous=cfg.sqlite_synchronous)
    store.migrate()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        store.close()

    app = FastAPI(title="airlock", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.settings = cfg
    app.state.store = store
    app.state.registry = registry
    errors.install(app)
    for module in (health, assistants, threads, messages, runs, files, models):
        app.include_router(module.router)
    app.add_middleware(Guard, settings=cfg)
    return app
