"""Run streams in v1 shapes: the same events, with v1 objects (a run carries its assistant's
file_ids), retrieval tool calls, quoted citations, and no `incomplete` run (v1 had none)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airlock.server.sse import View
from airlock.server.wire import v1_objects as v1


class V1View(View):
    def __init__(self, run_file_ids: list[str]):
        super().__init__()
        self.run_file_ids = run_file_ids

    def name(self, event: str) -> str:
        return "thread.run.completed" if event == "thread.run.incomplete" else event

    def obj(self, kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
        if kind == "run":
            return v1.run(row, self.run_file_ids)
        if kind == "step":
            return v1.step(row)
        if kind == "message":
            return v1.message(row)
        return v1.thread(row)

    def step_delta(self, data: Mapping[str, Any]) -> dict[str, Any]:
        details = data["delta"].get("step_details") or {}
        if not details.get("tool_calls"):
            return dict(data)
        calls = [v1.tool_call(c) for c in details["tool_calls"]]
        return {**data, "delta": {**data["delta"], "step_details": {**details, "tool_calls": calls}}}

    def annotations(self, annotations: Sequence[Mapping[str, Any]]
                    ) -> Sequence[Mapping[str, Any]]:
        return v1.quoted(annotations)
