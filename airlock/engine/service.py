"""The engine as the server sees it: create and cancel runs, start and stop the workers."""

from __future__ import annotations

from typing import Any

from airlock.engine import runs, scripted
from airlock.engine.events import Hub
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

    async def create_run(self, thread_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        run = await self.store.write(runs.create, thread_id, fields, self.resolve,
                                    self.expires_after)
        self.scheduler.wake(run["backend"])
        return run

    async def create_thread_and_run(self, fields: dict[str, Any]) -> tuple[dict, dict]:
        thread, run = await self.store.write(runs.create_with_thread, fields, self.resolve,
                                                  self.expires_after)
        self.scheduler.wake(run["backend"])
        return thread, run

    async def cancel(self, thread_id: str, run_id: str) -> dict[str, Any]:
        run, was = await self.store.write(runs.request_cancel, thread_id, run_id)
        self.hub.publish(run_id, "thread.run.cancelling", run)
        if was == "in_progress":
            self.scheduler.request_stop(run_id)  # the worker finishes it within a token
        elif was != "cancelling":
            final = await self.store.write(runs.finish, run_id, "cancelled")
            self.hub.publish(run_id, "thread.run.cancelled", final)
        return run

    def _next_scripted_reply(self, thread_id: str | None) -> dict[str, Any] | None:
        with self.store.begin() as conn:
            return scripted.pop(conn, thread_id)
