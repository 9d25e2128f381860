"""One file_search round of a run: a tool_calls step, the searches, the sources for the model.

Events follow the contract's ordering (c): the step opens with an empty tool_calls list, one
delta per call carries its identity with `file_search: {}`, and the completed step holds the
ranking options and results (their content is shown only when the client asked via include[]).
"""

from __future__ import annotations

import logging
from typing import Any

from airlock.engine import tools
from airlock.engine.steps import Publish, call_delta, complete_builtin, open_tool_step
from airlock.engine.citations import Source
from airlock.engine.ids import new_id
from airlock.engine.store import Store

log = logging.getLogger("airlock.file_search")


def run_round(store: Store, box: tools.Toolbox, publish: Publish, run: dict[str, Any],
              calls: list[dict[str, str]], usage: dict[str, Any], fallback_query: str,
              max_source_chars: int) -> dict[str, Any]:
    """Runs the searches and stores the step; returns the run's updated tool_io."""
    tool_io = dict(run["params"].get("tool_io") or {})
    n = sum(1 for io in tool_io.values() if io["name"] == "file_search")
    step = open_tool_step(store, publish, run, usage)
    with store.read_conn() as conn:
        store_ids = tools.store_ids(conn, run)
    k, threshold = tools.file_search_settings(run)
    done = []
    for index, call in enumerate(calls):
        call_id = new_id("call")
        publish("thread.run.step.delta", call_delta(step["id"], index, {
            "id": call_id, "type": "file_search", "file_search": {}}))
        query = tools.query_of(call["arguments"], fallback_query)
        results = []
        if store_ids:
            if not box.ingestor.wait_ready(store_ids, box.search_wait_s):
                log.warning("run %s searched %s before ingestion finished", run["id"], store_ids)
            results = box.search.search(store_ids, query, k=k, threshold=threshold)
        sources = [Source(n, i, r.file_id, r.filename, r.text) for i, r in enumerate(results)]
        tool_io[call_id] = {
            "name": "file_search", "arguments": call["arguments"], "query": query,
            "output": tools.sources_text(sources, max_source_chars),
            "sources": [s.__dict__ for s in sources],
        }
        done.append({"id": call_id, "type": "file_search", "file_search": {
            "ranking_options": {"ranker": tools.RANKER, "score_threshold": threshold},
            "results": [{"file_id": r.file_id, "file_name": r.filename, "score": r.score,
                         "content": [{"type": "text", "text": r.text}]} for r in results]}})
        n += 1
    complete_builtin(store, publish, run, step["id"], done, tool_io)
    return tool_io


def sources_of(run: dict[str, Any]) -> list[Source]:
    return [Source(**s) for io in (run["params"].get("tool_io") or {}).values()
            for s in io.get("sources") or []]
