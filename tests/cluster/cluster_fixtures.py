"""Fixtures of the cluster tier (imported by its test modules): airlock replicas sharing one real PostgreSQL database, one files directory
and one Chroma server, all started here on loopback (scripts/cluster.sh starts the same).

Replicas `a` and `b` run workers; `api` serves the API only (AIRLOCK_WORKERS=false), so a run
created or streamed through it is always executed by another replica.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pg_helpers import PgServer


def _root_conftest():
    # By path: several directories of tests have a conftest.py, and the last one imported
    # owns the name `conftest`.
    spec = importlib.util.spec_from_file_location(
        "airlock_tests_root_conftest", Path(__file__).resolve().parent.parent / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_root = _root_conftest()
AirlockServer, free_port, make_client = _root.AirlockServer, _root.free_port, _root.make_client

LEASE_S = 3.0
CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")


class Cluster:
    def __init__(self, base: Path, database_url: str, chroma_url: str):
        self.base, self.database_url, self.chroma_url = base, database_url, chroma_url
        self.files_dir = base / "shared-files"
        self.files_dir.mkdir()
        self.replicas: dict[str, AirlockServer] = {}

    def replica(self, name: str, *, workers: bool = True, extra_env: dict[str, str] | None = None
                ) -> AirlockServer:
        env = {"AIRLOCK_FILES_DIR": str(self.files_dir), "AIRLOCK_LEASE_S": str(LEASE_S),
               "AIRLOCK_WORKERS": "true" if workers else "false", **(extra_env or {})}
        srv = AirlockServer(self.base / name / "data", self.base / name / "logs",
                            ("--model", "scripted", "--scripted-strict",
                             "--database-url", self.database_url,
                             "--chroma-url", self.chroma_url), env)
        self.replicas[name] = srv
        return srv.start()

    def stop(self) -> None:
        for srv in self.replicas.values():
            srv.stop()


def _start_chroma(base: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(base / "chroma.log", "wb") as log:
        proc = subprocess.Popen([CHROMA, "run", "--path", str(base / "chroma"), "--host",
                                 "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (base / "chroma.log").read_text()
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "chroma run did not become ready"
        try:
            proc.wait(timeout=0.2)  # the readiness poll's tick
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    chroma, chroma_url = _start_chroma(base)
    c = Cluster(base, PgServer.shared().new_database("cluster"), chroma_url)
    c.replica("a")
    c.replica("b")
    c.replica("api", workers=False)
    yield c
    c.stop()
    chroma.terminate()
    chroma.wait(timeout=30)


@pytest.fixture(scope="session")
def a(cluster) -> AirlockServer:
    return cluster.replicas["a"]


@pytest.fixture(scope="session")
def b(cluster) -> AirlockServer:
    return cluster.replicas["b"]


@pytest.fixture(scope="session")
def api(cluster) -> AirlockServer:
    return cluster.replicas["api"]
