"""The replicas' bus (airlock/store/bus.py) on a real PostgreSQL: whatever a replica sends
reaches a listener once each, in the order sent, however the sender thread packed it: equal
payloads in a row (two equal token deltas), payloads over NOTIFY's limit, a payload holding the
packing separator. Skipped where PostgreSQL is not installed."""

from __future__ import annotations

import glob
import threading

import pytest

from airlock.store import Store
from airlock.store.bus import MAX_INLINE, RS, Bus

pytestmark = pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                                reason="PostgreSQL is not installed")
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from pg_helpers import PgServer

    url = PgServer.shared().new_database("bus")
    s = Store(url, tmp_path_factory.mktemp("bus-files"))
    s.migrate()  # bus_log
    s.close()
    return url


class Listener:
    def __init__(self, url: str, expected: int):
        self.bus = Bus(url, "listener")
        self.got: list[str] = []
        self.expected = expected
        self.done, self.ready, self.stopping = threading.Event(), threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self.bus.listen,
                                       args=(self.on, self.stopping, self.ready), daemon=True)
        self.thread.start()
        assert self.ready.wait(DEADLINE_S)

    def on(self, payload: str) -> None:
        self.got.append(payload)
        if len(self.got) >= self.expected:
            self.done.set()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(DEADLINE_S)


def payloads() -> list[str]:
    delta = '{"k":"e","n":"thread.message.delta","d":{"value":" la"}}'
    return [
        *[delta] * 5,  # equal payloads: PostgreSQL folds equal notifications of a transaction
        "x" * (MAX_INLINE + 500),  # over the limit: read from bus_log
        f"holds the separator {RS} inside",
        *[f'{{"i":{i},"pad":"{"p" * 300}"}}' for i in range(60)],  # several notifications' worth
        delta,
    ]


def test_the_sender_thread_delivers_everything_in_order(url):
    sent = payloads()
    listener = Listener(url, len(sent))
    sender, stopping = Bus(url, "sender"), threading.Event()
    thread = threading.Thread(target=sender.run_sender, args=(stopping,), daemon=True)
    thread.start()
    try:
        for payload in sent:
            sender.send(payload)
        assert listener.done.wait(DEADLINE_S), f"{len(listener.got)} of {len(sent)} arrived"
        assert listener.got == sent
    finally:
        stopping.set()
        thread.join(DEADLINE_S)
        sender.close()
        listener.close()


def test_without_a_sender_thread_send_delivers_directly_and_close_sends_the_rest(url):
    sent = payloads()[:8]
    listener = Listener(url, len(sent))
    sender = Bus(url, "direct")
    try:
        for payload in sent:
            sender.send(payload)
        assert listener.done.wait(DEADLINE_S), f"{len(listener.got)} of {len(sent)} arrived"
        assert listener.got == sent
    finally:
        sender.close()
        listener.close()


def test_a_listener_that_reconnects_gets_what_was_sent_meanwhile_once(url):
    import psycopg

    sent = [f'{{"i":{i}}}' for i in range(40)]
    listener = Listener(url, 20)
    sender = Bus(url, "sender-2")
    try:
        for payload in sent[:20]:
            sender.send(payload)
        assert listener.done.wait(DEADLINE_S), f"{len(listener.got)} of 20 arrived"
        # Cut the listening connection from the database side, as a network blip would; what
        # is sent before it reconnects (a second later) is not notified to it.
        with psycopg.connect(Bus(url, "x").url, autocommit=True) as conn:
            ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = 'airlock:listener'").fetchall()
        assert ended == [(True,)]
        listener.done.clear()
        listener.expected = len(sent)
        for payload in sent[20:]:
            sender.send(payload)
        assert listener.done.wait(DEADLINE_S), f"{len(listener.got)} of {len(sent)} arrived"
        assert listener.got == sent
    finally:
        sender.close()
        listener.close()
