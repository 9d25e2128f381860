"""A stream open on a replica whose connection to the database drops and reconnects mid-turn:
the events the other replica sent meanwhile reach it after the reconnect, from the bus's stored
log, so an Assistants run stream and a background response stream both end whole."""

from __future__ import annotations

import psycopg
from cluster_fixtures import a, api, b, cluster  # noqa: F401  (fixtures)

from runs_helpers import script

WORDS = " ".join(f"w{i}" for i in range(150))  # ~3 s at 20 ms a word


def cut_listener(cluster, server) -> None:  # noqa: F811
    """Ends `server`'s LISTEN connection from the database side, as a network blip would: its
    listener reconnects a second later; what was sent meanwhile never reached it by NOTIFY."""
    url = cluster.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE %s", (f"airlock:%-{server.proc.pid}-%",)).fetchall()
    assert ended == [(True,)]


def test_a_run_stream_survives_its_replicas_reconnect(cluster, api):  # noqa: F811
    c = api.client()  # api runs no workers: every event crosses the bus
    asst = c.beta.assistants.create(model="scripted")
    thread = c.beta.threads.create(messages=[{"role": "user", "content": "count"}])
    script(api, {"text": WORDS, "delay_ms": 20}, thread_id=thread.id)
    text, cut = "", False
    with c.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        for ev in stream:
            if ev.event == "thread.message.delta":
                text += ev.data.delta.content[0].text.value
                if not cut:
                    cut_listener(cluster, api)
                    cut = True
        final = stream.get_final_run()
    assert final.status == "completed"
    assert text == WORDS
    c.close()


def test_a_background_response_stream_survives_its_replicas_reconnect(cluster, api):  # noqa: F811
    c = api.client()
    script(api, {"text": WORDS, "delay_ms": 20})
    events, cut = [], False
    with c.responses.create(model="scripted", input="count", background=True,
                            stream=True) as stream:
        for event in stream:
            events.append(event.model_dump())
            if event.type == "response.output_text.delta" and not cut:
                cut_listener(cluster, api)
                cut = True
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    assert "".join(e["delta"] for e in events
                   if e["type"] == "response.output_text.delta") == WORDS
    c.close()
