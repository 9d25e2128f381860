"""The engine as the server sees it: create and cancel runs, start and stop the workers."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from airlock.engine import runs, scripted
from airlock.engine.events import Hub, Watch
from airlock.engine.ids import new_id
from airlock.engine.scheduler import Scheduler
from airlock.engine.store import Store
from airlock.errors import InvalidRequest
from airlock.models.registry import ModelNotFound, Registry
from airlock.models.scripted import ScriptedBackend


class Engine:
    def __init__(self, store: Store, registry: Registry, *, strict_models: bool = False,
                 run_expires_after_s: int = runs.EXPIRES_AFTER):
        self.store, self.registry, self.strict_models = store, registry, strict_models
        self.expires_after = run_expires_after_s
        self.hub = Hub()
        self.scheduler = Scheduler(store, registry, self.hub)
        registry.set_scripted_factory(lambda: ScriptedBackend(self._next_scripted_reply))

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown()

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
