"""The FastAPI application: store, registry and engine on app.state, guard, routers, errors."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from airlock.engine.store import Store
from airlock.models.registry import Registry
from airlock.engine.service import Engine
from airlock.server import (
    assistants, errors, file_batches, files, health, messages, models, runs, scripted, threads,
    vector_store_files, vector_stores,
)
from airlock.server.guard import Guard
from airlock.settings import Settings


def create_app(cfg: Settings, registry: Registry) -> FastAPI:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.resolved_database_url(), cfg.files_dir,
                  sqlite_synchronous=cfg.sqlite_synchronous)
    store.migrate()

    engine = Engine(store, registry, cfg)
    if registry.get(registry.default).kind != "scripted":
        registry.backend(registry.default)  # load before /health says ready

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        engine.start()
        yield
        engine.shutdown()
        registry.close()
        store.close()

    app = FastAPI(title="airlock", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.settings = cfg
    app.state.store = store
    app.state.registry = registry
    app.state.engine = engine
    errors.install(app)
    app.include_router(runs.thread_and_run)
    for module in (health, assistants, threads, messages, runs, files, models, scripted,
                   vector_stores, vector_store_files, file_batches):
        app.include_router(module.router)
    app.add_middleware(Guard, settings=cfg)
    return app
