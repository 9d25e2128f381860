"""A request's model turn on a thread of its own, its events handed to the request's task.

Chat completions and responses generate outside the event loop (the model's fair lock may make
them wait; llama.cpp holds the thread while it decodes). What the work puts, then what it
returns, then DONE reach the task's queue in order; an exception it raises takes the place of
the return value, so the task meets it where it would have met the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

DONE = object()

Put = Callable[[object], None]


@dataclass
class TurnThread:
    first: object  # the first item: an event, or the work's return value
    queue: asyncio.Queue[object]
    stop: threading.Event  # set to stop the work at its next token


async def start(name: str, work: Callable[[Put, Callable[[], bool]], object]) -> TurnThread:
    """Starts `work(put, should_stop)` and waits for its first item; an exception raised before
    anything else is raised here (a prompt too long, a model that cannot load)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def put(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def run() -> None:
        try:
            put(work(put, stop.is_set))
        except BaseException as exc:  # noqa: BLE001 - handed to the request's task
            put(exc)
        put(DONE)

    threading.Thread(target=run, name=name, daemon=True).start()
    first = await queue.get()
    if isinstance(first, BaseException):
        stop.set()
        raise first
    return TurnThread(first, queue, stop)
