"""PostgreSQL restarting under a replica: once the database is back, the replica's requests and
runs work again at once, without restarting airlock. The replica's pooled connections all died
with the old server; each is checked (without a round trip) before use and replaced."""

from __future__ import annotations

import subprocess

from cluster_fixtures import AirlockServer

from pg_helpers import PG_SH, PgServer
from runs_helpers import script


def test_a_replica_works_again_once_its_database_restarted(tmp_path):
    pg = PgServer()  # its own server: the cluster's replicas keep theirs
    srv = AirlockServer(tmp_path / "data", tmp_path / "logs",
                        ("--model", "scripted", "--database-url", pg.new_database("restart")),
                        {"AIRLOCK_FILES_DIR": str(tmp_path / "files")})
    try:
        srv.start()
        c = srv.client()
        asst = c.beta.assistants.create(model="scripted")
        script(srv, {"text": "before"})
        first = c.beta.threads.create_and_run_poll(
            assistant_id=asst.id, thread={"messages": [{"role": "user", "content": "hi"}]},
            poll_interval_ms=50)
        assert first.status == "completed"

        for cmd in (["stop", str(pg.dir)], ["start", str(pg.dir), str(pg.port)]):
            subprocess.run(["bash", str(PG_SH), *cmd], check=True, capture_output=True)

        # No retries (the test client makes none): the first request after the restart works.
        assert c.beta.assistants.retrieve(asst.id).id == asst.id
        script(srv, {"text": "after"})
        again = c.beta.threads.runs.create_and_poll(thread_id=first.thread_id,
                                                    assistant_id=asst.id, poll_interval_ms=50)
        assert again.status == "completed", again.last_error
        texts = [m.content[0].text.value
                 for m in c.beta.threads.messages.list(first.thread_id, order="asc").data
                 if m.role == "assistant"]
        assert texts == ["before", "after"]
        c.close()
    finally:
        srv.stop()
        pg.stop()
