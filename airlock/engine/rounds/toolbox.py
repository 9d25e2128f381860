"""What built-in tool rounds run on: the search index, ingestion (to wait for), the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from airlock.engine.ingestion import Ingestor
from airlock.engine.run_state import RunRecord
from airlock.engine.sandbox import Sandbox
from airlock.engine.search import Search
from airlock.store import crud
from airlock.store.tables import Assistant, Thread


@dataclass
class Toolbox:
    search: Search
    ingestor: Ingestor
    sandbox: Sandbox
    files_dir: Path  # where output files' bytes go
    search_wait_s: float = 60.0
    replica: str = ""  # this replica's name: the kernel home it records (store.kernel_homes)


def resources(conn: Connection, run: RunRecord, tool: str) -> list[dict[str, Any]]:
    """The `tool` part of the assistant's tool_resources, then of the thread's (which the
    run's own tool_resources replace)."""
    assistant = crud.find(conn, Assistant, run.assistant_id)
    thread = crud.find(conn, Thread, run.thread_id)
    both = (assistant.tool_resources if assistant else None,
            run.tool_resources or (thread.tool_resources if thread else None))
    return [(r or {}).get(tool) or {} for r in both]
