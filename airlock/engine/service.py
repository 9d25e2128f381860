"""The engine as the server sees it: create and cancel runs, start and stop the workers."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from airlock.engine import files, runs, scripted, threads, vector_store_files, vector_stores
from airlock.engine.ingestion import Ingestor
from airlock.engine.sandbox import Sandbox
from airlock.engine.search import Search
from airlock.engine.tools import Toolbox
from airlock.engine.events import Hub, Watch
from airlock.engine.ids import new_id
from airlock.engine.scheduler import Scheduler
from airlock.engine.store import Store
from airlock.errors import InvalidRequest
from airlock.models.registry import ModelNotFound, Registry
from airlock.models.scripted import ScriptedBackend
from airlock.settings import Settings

T = TypeVar("T")


class Engine:
    def __init__(self, store: Store, registry: Registry, cfg: Settings):
        self.store, self.registry, self.strict_models = store, registry, cfg.strict_models
        self.expires_after = cfg.run_expires_after_s
        self.hub = Hub()
        self.search = Search(store, cfg.index_dir, cfg.embedding_model)
        self.ingestor = Ingestor(store, cfg.files_dir, self.search, cfg.ingest_workers)
        self.sandbox = Sandbox(cfg)
        tools = Toolbox(search=self.search, ingestor=self.ingestor, sandbox=self.sandbox,
                        files_dir=cfg.files_dir, search_wait_s=cfg.search_wait_s)
        self.scheduler = Scheduler(store, registry, self.hub, tools)
        registry.set_scripted_factory(lambda: ScriptedBackend(self._next_scripted_reply))

    def start(self) -> None:
        self.scheduler.start()
        self.ingestor.start()
        self.sandbox.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown()
        self.ingestor.shutdown()
        self.search.close()
        self.sandbox.shutdown()

    # --- vector stores: writes that queue ingestion or must clean the index ----------------------

    async def ingest(self, fn: Callable[..., T], *args: Any) -> T:
        """A write that queues files for ingestion; the workers hear of it at once."""
        result = await self.store.write(fn, *args)
        self.ingestor.wake()
        return result

    async def delete_vector_store(self, store_id: str) -> None:
        await self.store.write(vector_stores.delete, store_id)
        await anyio.to_thread.run_sync(self.search.drop_store, store_id)

    async def delete_vector_store_file(self, store_id: str, file_id: str) -> None:
        await self.store.write(vector_store_files.delete, store_id, file_id)
        await anyio.to_thread.run_sync(self.search.drop_file, [store_id], file_id)

    async def delete_file(self, files_dir: Path, file_id: str) -> None:
        """A deleted File leaves every vector store and index, then its bytes go."""
        path, stores = await self.store.write(_delete_file, files_dir, file_id)
        path.unlink(missing_ok=True)
        await anyio.to_thread.run_sync(self.search.drop_file, stores, file_id)

    async def delete_thread(self, thread_id: str) -> None:
        await self.store.write(threads.delete_thread, thread_id)
        await anyio.to_thread.run_sync(self.sandbox.drop, thread_id)

    async def search_stores(self, store_ids: list[str], query: str | list[str], **kw: Any):
        # Embedding the query is CPU work: off the event loop.
        return await anyio.to_thread.run_sync(lambda: self.search.search(store_ids, query, **kw))

    def resolve(self, model: str) -> str:
        try:
            return self.registry.resolve(model, strict=self.strict_models).name
        except ModelNotFound:
            raise InvalidRequest(
                f"The model '{model}' does not exist or you do not have access to it.",
                param="model", code="model_not_found",
            ) from None

    async def create_run(self, thread_id: str, fields: dict[str, Any], *, watch: bool = False
                         ) -> tuple[dict[str, Any], Watch | None]:
        """A queued run, and with `watch` its event feed, subscribed before any worker sees it."""
        async with self._watched(watch) as (run_id, feed):
            run = await self.store.write(runs.create, thread_id, fields, self.resolve,
                                         self.expires_after, run_id)
        self.scheduler.wake(run["backend"])
        return run, feed

    async def create_thread_and_run(self, fields: dict[str, Any], *, watch: bool = False
                                    ) -> tuple[dict, dict, Watch | None]:
        async with self._watched(watch) as (run_id, feed):
            thread, run = await self.store.write(runs.create_with_thread, fields, self.resolve,
                                                 self.expires_after, run_id)
        self.scheduler.wake(run["backend"])
        return thread, run, feed

    @asynccontextmanager
    async def _watched(self, watch: bool, run_id: str | None = None):
        # A worker thread may claim the run the moment it commits, so the feed must exist first.
        run_id = run_id or new_id("run")
        feed = Watch(self.hub, run_id) if watch else None
        try:
            yield run_id, feed
        except BaseException:
            if feed:
                feed.close()
            raise

    async def submit_tool_outputs(self, thread_id: str, run_id: str, outputs: list[dict[str, str]],
                                  *, watch: bool = False) -> tuple[dict[str, Any], Watch | None]:
        async with self._watched(watch, run_id) as (_, feed):
            run, events = await self.store.write(runs.submit_outputs, thread_id, run_id, outputs)
        self.hub.publish_all(run_id, events)
        self.scheduler.wake(run["backend"])
        return run, feed

    async def cancel(self, thread_id: str, run_id: str) -> dict[str, Any]:
        run, was = await self.store.write(runs.request_cancel, thread_id, run_id)
        self.hub.publish(run_id, "thread.run.cancelling", run)
        if was == "in_progress":
            self.scheduler.request_stop(run_id)  # the worker finishes it within a token
        elif was != "cancelling":
            self.hub.publish_all(run_id, await self.store.write(runs.finish, run_id, "cancelled"))
        return run

    def _next_scripted_reply(self, thread_id: str | None) -> dict[str, Any] | None:
        with self.store.begin() as conn:
            return scripted.pop(conn, thread_id)


def _delete_file(conn, files_dir: Path, file_id: str) -> tuple[Path, list[str]]:
    return files.delete_file(conn, files_dir, file_id), vector_store_files.forget_file(conn, file_id)
