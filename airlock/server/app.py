"""The FastAPI application: the services on app.state, the guard, the routers, the errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from airlock.server import (
    assistants,
    chat,
    containers,
    conversations,
    embeddings,
    errors,
    file_batches,
    files,
    health,
    messages,
    migration,
    model_list,
    playground,
    responses,
    runs,
    scripted_replies,
    steps,
    threads,
    vector_store_files,
    vector_stores,
)
from airlock.server.access_log import AccessLog
from airlock.server.guard import Guard
from airlock.server.openapi import truthful
from airlock.server.v1 import assistants as v1_assistants
from airlock.server.v1 import messages as v1_messages
from airlock.server.v1 import runs as v1_runs
from airlock.server.v1 import threads as v1_threads
from airlock.server.versions import AssistantsVersion
from airlock.service import Services

# /docs groups the endpoints by API generation, then resource. Order matters for matching too:
# each module's routes are added in this order.
TAGS = {
    health: "airlock: health",
    chat: "Chat Completions",
    responses: "Responses API: responses",
    conversations: "Responses API: conversations",
    containers: "Responses API: containers",
    assistants: "Assistants API: assistants",
    threads: "Assistants API: threads",
    messages: "Assistants API: messages",
    runs: "Assistants API: runs",
    steps: "Assistants API: run steps",
    files: "Files",
    model_list: "Models",
    embeddings: "Embeddings",
    scripted_replies: "airlock: scripted model",
    migration: "airlock: threads to conversations",
    vector_stores: "Vector stores",
    vector_store_files: "Vector stores: files",
    file_batches: "Vector stores: file batches",
}


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.start()
        yield
        services.close()

    app = FastAPI(title="airlock", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.services = services
    app.openapi = truthful(app)  # type: ignore[method-assign]
    errors.install(app)
    # POST /v1/threads/runs must be matched before POST /v1/threads/{thread_id}.
    app.include_router(runs.thread_and_run, tags=[TAGS[runs]])
    app.include_router(v1_runs.thread_and_run)
    for module, tag in TAGS.items():
        app.include_router(module.router, tags=[tag])
    for module in (v1_assistants, v1_threads, v1_messages, v1_runs, playground):
        app.include_router(module.router)  # not in the OpenAPI document
    app.add_middleware(AssistantsVersion)
    app.add_middleware(Guard, settings=services.cfg)
    app.add_middleware(AccessLog)  # outermost: even refused requests leave a line
    return app
