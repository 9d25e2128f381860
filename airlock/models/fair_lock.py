"""A lock granted in arrival order.

A model serves one generation at a time, asked by a run worker and by Chat Completions requests.
`threading.Lock` lets the thread that just released it take it straight back, so a worker with a
queue of runs could hold the model while a chat request waits indefinitely (and the reverse).
Handing the lock to the longest waiter bounds any wait to the generations queued before it.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairLock:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # release() hands the lock over: it stays held, now by this thread

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
