"""The model lock is granted in arrival order: a thread that releases and asks again queues
behind the threads already waiting."""

from __future__ import annotations

import threading

from airlock.models.fair_lock import FairLock


def test_waiters_get_the_lock_in_arrival_order():
    lock = FairLock()
    order: list[str] = []
    lock.acquire()
    threads = []
    for name in ("a", "b", "c"):
        started = threading.Event()

        def take(name=name, started=started):
            started.set()
            with lock:
                order.append(name)

        t = threading.Thread(target=take)
        t.start()
        started.wait()
        # Wait until the thread is queued on the lock before the next one starts.
        while len(lock._waiters) < len(threads) + 1:
            threading.Event().wait(0.001)
        threads.append(t)
    lock.release()
    for t in threads:
        t.join(timeout=10)
    assert order == ["a", "b", "c"]


def test_the_releasing_thread_queues_behind_a_waiter():
    lock = FairLock()
    order: list[str] = []
    lock.acquire()
    waiter = threading.Thread(target=lambda: (lock.acquire(), order.append("waiter"),
                                              lock.release()))
    waiter.start()
    while not lock._waiters:
        threading.Event().wait(0.001)
    lock.release()
    with lock:  # asks again at once, as a run worker does between generations
        order.append("again")
    waiter.join(timeout=10)
    assert order == ["waiter", "again"]
