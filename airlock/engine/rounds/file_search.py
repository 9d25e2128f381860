"""One file_search round of a run: a tool_calls step, the search, the sources for the model.

The search runs the model's query and the user's latest message, fused. Events follow the
stream ordering for built-in tools (docs/wire/streaming.md): the step opens
with an empty tool_calls list, one delta per call carries its identity with `file_search: {}`,
and the completed step holds the ranking options and results (their content is shown only
when the client asked via include[]).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import Connection

from airlock.engine.citations import Source
from airlock.engine.rounds.steps import Publish, call_delta, complete_builtin, open_tool_step
from airlock.engine.rounds.toolbox import Toolbox, resources
from airlock.engine.run_state import RunRecord, ToolIO, Usage
from airlock.store import Store
from airlock.store.ids import new_id

log = logging.getLogger("airlock.file_search")
RANKER = "default_2024_08_21"
DEFAULT_RESULTS = 20
# Source text shown to the model takes at most this share of its context.
SOURCES_SHARE = 0.5
CITE_HINT = ("Answer from these sources. After a sentence that uses a source, write its "
             "marker exactly, for example {marker}.")


def settings(run: RunRecord) -> tuple[int, float]:
    """max_num_results and score_threshold of the run's file_search tool."""
    tool = next(t for t in run.tools if t["type"] == "file_search")
    cfg = tool.get("file_search") or {}
    ranking = cfg.get("ranking_options") or {}
    return cfg.get("max_num_results") or DEFAULT_RESULTS, float(ranking.get("score_threshold", 0.0))


def store_ids(conn: Connection, run: RunRecord) -> list[str]:
    """The vector stores a run searches: the assistant's and the thread's."""
    ids = [i for r in resources(conn, run, "file_search") for i in r.get("vector_store_ids", [])]
    return list(dict.fromkeys(ids))


def query_of(arguments: str, fallback: str) -> str:
    """The model's query, or the user's last message when the model wrote none."""
    try:
        query = json.loads(arguments).get("query")
    except (ValueError, AttributeError):
        query = None
    return query.strip() if isinstance(query, str) and query.strip() else fallback


def cite_hint(sources: list[Source]) -> str:
    """How to cite, for the turn's instructions: in the tool's output a model would parrot it."""
    return CITE_HINT.format(marker=sources[0].marker)


def sources_text(sources: list[Source], max_chars: int) -> str:
    """Numbered sources for the model, best first, as many as fit: data only."""
    if not sources:
        return "No passages in the files matched the search."
    lines: list[str] = []
    used = 0
    for source in sources:
        room = max_chars - used
        if room < 200:
            break
        text = " ".join(source.text.split())[: room - len(source.marker) - 2]
        lines.append(f"{source.marker} {text}")
        used += len(lines[-1]) + 1
    return "\n".join(lines)


def run_round(store: Store, box: Toolbox, publish: Publish, run: RunRecord,
              arguments: str, usage: Usage, fallback_query: str, max_source_chars: int) -> None:
    """Runs the search and stores the step; the sources join the run's tool_io."""
    n = run.params.used().count("file_search")
    step = open_tool_step(store, publish, run, usage)
    with store.read_conn() as conn:
        stores = store_ids(conn, run)
    k, threshold = settings(run)
    call_id = new_id("call")
    publish("thread.run.step.delta", call_delta(step["id"], 0, {
        "id": call_id, "type": "file_search", "file_search": {}}))
    query = query_of(arguments, fallback_query)
    # A small model's query can be worse than the question itself: both are searched, and the
    # rankings fused, so a weak query cannot bury the right source.
    queries = list(dict.fromkeys(q for q in (query, fallback_query.strip()) if q))
    results = []
    if stores:
        if not box.ingestor.wait_ready(stores, box.search_wait_s):
            log.warning("run %s searched %s before ingestion finished", run.id, stores)
        results = box.search.search(stores, queries if len(queries) > 1 else query, k=k,
                                    threshold=threshold)
    sources = [Source(n, i, r.file_id, r.filename, r.text) for i, r in enumerate(results)]
    run.params.tool_io[call_id] = ToolIO(
        name="file_search", arguments=arguments, query=query,
        output=sources_text(sources, max_source_chars), sources=sources)
    call: dict[str, Any] = {"id": call_id, "type": "file_search", "file_search": {
        "ranking_options": {"ranker": RANKER, "score_threshold": threshold},
        "results": [{"file_id": r.file_id, "file_name": r.filename, "score": r.score,
                     "content": [{"type": "text", "text": r.text}]} for r in results]}}
    complete_builtin(store, publish, run, step["id"], [call])


def sources_of(run: RunRecord) -> list[Source]:
    return [s for io in run.params.tool_io.values() for s in io.sources]
