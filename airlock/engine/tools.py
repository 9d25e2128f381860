"""The tools a turn offers: the run's functions plus the built-ins the engine runs itself
(file_search, code_interpreter), which are offered as functions so the same grammar-constrained
call machinery writes their arguments."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from airlock.engine.citations import Source
from airlock.engine.store import crud
from airlock.engine.store.tables import Assistant, RunStep, Thread

FILE_SEARCH = {
    "name": "file_search",
    "description": "Search the user's uploaded files for passages about a topic. Use it for any "
                   "question about their documents.",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string", "description": "What to look for in the files."}},
        "required": ["query"]},
}
CODE_INTERPRETER = {
    "name": "code_interpreter",
    "description": "Run Python code in a Jupyter kernel that keeps its state between calls. "
                   "numpy, pandas and matplotlib are available; files live in /mnt/data. Use "
                   "it for calculations, data analysis and charts; print() what you need.",
    "parameters": {"type": "object", "properties": {
        "code": {"type": "string", "description": "The Python code to run."}},
        "required": ["code"]},
}
BUILTINS = {"file_search": FILE_SEARCH, "code_interpreter": CODE_INTERPRETER}
# Calls of each built-in one run may make: one search; a few rounds of code (run, read the
# output, fix, run again) before the model must answer.
MAX_USES = {"file_search": 1, "code_interpreter": 3}
# Tool rounds one run may take before the model must answer.
MAX_ROUNDS = 8
RANKER = "default_2024_08_21"
DEFAULT_RESULTS = 20
# Source text shown to the model takes at most this share of its context.
SOURCES_SHARE = 0.5
CITE_HINT = ("Answer from these sources. After a sentence that uses a source, write its "
             "marker exactly, for example {marker}.")


@dataclass
class Toolbox:
    search: Any  # engine.search.Search
    ingestor: Any  # engine.ingestion.Ingestor
    sandbox: Any = None  # engine.sandbox.Sandbox
    files_dir: Any = None  # where output files' bytes go
    search_wait_s: float = 60.0


def offered(run: dict[str, Any], used: list[str], files: list[str] = ()) -> list[dict[str, Any]]:
    """Built-ins this turn may call, each up to MAX_USES per run (a small model would loop).
    `files`: the /mnt/data paths code_interpreter will find, told to the model."""
    types = {t["type"] for t in run["tools"]}
    out = []
    for name, spec in BUILTINS.items():
        if name in types and used.count(name) < MAX_USES[name]:
            if name == "code_interpreter" and files:
                spec = {**spec, "description": spec["description"]
                        + " Files available: " + ", ".join(files) + "."}
            out.append(spec)
    return out


def file_search_settings(run: dict[str, Any]) -> tuple[int, float]:
    tool = next(t for t in run["tools"] if t["type"] == "file_search")
    cfg = tool.get("file_search") or {}
    ranking = cfg.get("ranking_options") or {}
    return cfg.get("max_num_results") or DEFAULT_RESULTS, float(ranking.get("score_threshold", 0.0))


def resources(conn: Connection, run: dict[str, Any], tool: str) -> list[dict[str, Any]]:
    """The `tool` part of the assistant's tool_resources, then of the thread's (which the
    run's own tool_resources replace)."""
    assistant = crud.find(conn, Assistant, run["assistant_id"])
    thread = crud.find(conn, Thread, run["thread_id"])
    both = (assistant and assistant.tool_resources,
            run.get("tool_resources") or (thread and thread.tool_resources))
    return [(r or {}).get(tool) or {} for r in both]


def store_ids(conn: Connection, run: dict[str, Any]) -> list[str]:
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


def sources_text(sources: list[Source], max_chars: int) -> str:
    """Numbered sources for the model, best first, as many as fit."""
    if not sources:
        return "No passages in the files matched the search."
    lines, used = [], 0
    for source in sources:
        room = max_chars - used
        if room < 200:
            break
        text = " ".join(source.text.split())[: room - len(source.marker) - 2]
        lines.append(f"{source.marker} {text}")
        used += len(lines[-1]) + 1
    return "\n".join(lines) + "\n\n" + CITE_HINT.format(marker=sources[0].marker)


def answered_rounds(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """This run's answered tool_calls steps, oldest first."""
    t = crud.table_of(RunStep)
    rows = conn.execute(select(t).where(t.c.run_id == run_id, t.c.type == "tool_calls",
                                        t.c.status == "completed").order_by(t.c.seq)).all()
    return [crud.to_object(r) for r in rows]


def setup(run: dict[str, Any], rounds: int,
          files: list[str] = ()) -> tuple[list[dict[str, Any]], Any]:
    """The functions offered this turn (built-ins included) and what the model must do with them."""
    used = [io["name"] for io in (run["params"].get("tool_io") or {}).values()]
    builtins = offered(run, used, files)
    functions = [t["function"] for t in run["tools"] if t["type"] == "function"] + builtins
    choice = run["tool_choice"]
    if isinstance(choice, dict):
        if choice["type"] == "function":
            choice = {"name": choice["function"]["name"]}
        elif any(f["name"] == choice["type"] for f in builtins) and choice["type"] not in used:
            choice = {"name": choice["type"]}
        else:
            choice = "auto"
    if not functions or rounds >= MAX_ROUNDS:
        return functions, "none"
    if rounds and choice != "none":
        choice = "auto"  # forcing applies to the first turn; with outputs back it may answer
    return functions, choice
