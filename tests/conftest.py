"""Fixtures that run airlock as a real subprocess and talk to it over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from pg_helpers import PgServer, use_postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
# tests/v1 drive the last Assistants v1 SDK (openai 1.20), in a pass of their own
# (scripts/test.sh); newer SDKs have no v1 methods to call.
collect_ignore = [] if openai.__version__.startswith("1.") else ["v1"]
STARTUP_DEADLINE_S = 60.0
# How long a test waits for a line it expects in a server's log.
LOG_DEADLINE_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AirlockServer:
    """One `python -m airlock serve` process; can be stopped and started again on the same data dir."""

    def __init__(self, data_dir: Path, log_dir: Path, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.extra_args = tuple(extra_args)
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.starts = 0
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"stdout.{self.starts}.log"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"stderr.{self.starts}.log"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The test process may see a different openai through PYTHONPATH; the server must not.
        env.pop("PYTHONPATH", None)
        env["PYTHONUNBUFFERED"] = "1"
        # Servers that never run code need no pre-warmed kernel; code tests ask for one.
        env["AIRLOCK_CODE_POOL_SIZE"] = "0"
        env.update(self.extra_env)
        return env

    def start(self) -> AirlockServer:
        assert self.proc is None, "server already running"
        self.starts += 1
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "airlock", "serve",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            *self.extra_args,
        ]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=self._env(), stdout=out, stderr=err)
        self._wait_ready()
        return self

    def _fail(self, why: str) -> None:
        self.stop()
        stderr = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        stdout = self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""
        print(f"--- airlock stdout ---\n{stdout}\n--- airlock stderr ---\n{stderr}", file=sys.stderr)
        pytest.fail(f"airlock server did not start: {why}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                    pytrace=False)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"process exited with code {self.proc.returncode}")
            try:
                r = httpx.get(f"{self.root_url}/health", timeout=2.0)
                if r.status_code == 200:
                    return
                last = f"/health answered {r.status_code}"
            except httpx.HTTPError as e:
                last = repr(e)
            # Poll interval: wait for the process to exit, which doubles as the readiness poll tick.
            try:
                self.proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        self._fail(f"/health not 200 within {STARTUP_DEADLINE_S}s ({last})")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def crash(self) -> None:
        """SIGKILL: no shutdown hooks run, as in a power cut of the process."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None

    def restart(self) -> AirlockServer:
        self.stop()
        return self.start()

    def client(self, api_key: str = "x") -> openai.OpenAI:
        return make_client(self.base_url, api_key)

    def log_text(self) -> str:
        """What this start of the server wrote to stdout and stderr so far."""
        return "".join(p.read_text(errors="replace") for p in (self.stdout_path, self.stderr_path)
                       if p.exists())

    def wait_for_log(self, *needles: str, deadline_s: float = LOG_DEADLINE_S) -> str:
        """The log once it holds every needle. The server writes a line after the answer that
        caused it has left (and a worker after the run's events), so a test reads the log when
        the line is there, not at once; fails with the log when a needle never comes."""
        give_up = time.monotonic() + deadline_s
        while True:
            text = self.log_text()
            missing = [n for n in needles if n not in text]
            if not missing:
                return text
            if time.monotonic() > give_up:
                pytest.fail(f"not in the server log after {deadline_s:.0f} s: {missing}\n{text}",
                            pytrace=False)
            time.sleep(0.05)  # poll interval, bounded by the deadline above


def make_client(base_url: str, api_key: str = "x") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key,
        _strict_response_validation=True,
        max_retries=0,
    )


@pytest.fixture(scope="session")
def start_server(tmp_path_factory):
    """Factory: start_server(name, *extra_args, env={...}) -> running AirlockServer, stopped at
    session end. `env` sets AIRLOCK_* settings that have no flag."""
    started: list[AirlockServer] = []

    def _start(name: str, *extra_args: str, env: dict[str, str] | None = None) -> AirlockServer:
        base = tmp_path_factory.mktemp(name)
        if use_postgres() and not any(a.startswith("--database-url") for a in extra_args):
            # The PostgreSQL pass: each server its own database, kept across its restarts.
            extra_args = ("--database-url", PgServer.shared().new_database(name), *extra_args)
        srv = AirlockServer(base / "data", base / "logs", extra_args, env)
        started.append(srv)
        return srv.start()

    yield _start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def server(start_server) -> AirlockServer:
    return start_server("shared")


@pytest.fixture(scope="session")
def client(server) -> openai.OpenAI:
    c = server.client()
    yield c
    c.close()


@pytest.fixture(scope="session")
def raw(server) -> httpx.Client:
    with httpx.Client(base_url=server.base_url, timeout=60.0) as c:
        yield c


@pytest.fixture(scope="session")
def fs_server(start_server) -> AirlockServer:
    """A scripted-model server for file_search tests (its embedding model loads once)."""
    return start_server("file_search", "--model", "scripted")


@pytest.fixture(scope="session")
def fs_client(fs_server) -> openai.OpenAI:
    c = fs_server.client()
    yield c
    c.close()
