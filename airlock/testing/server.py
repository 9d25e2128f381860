"""A real `airlock serve` subprocess for tests: a free port, its own data dir, a log file.

It runs the `scripted` model as the default, so any model name an app uses (`gpt-4o`) is
scripted. Start-up waits for `GET /health`; a failure to start raises with the log's tail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

API_KEY = "sk-airlock-test"
LOG_TAIL_LINES = 40
# Another process may take the free port between our probe and the server's bind.
_START_ATTEMPTS = 3


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class AirlockServer:
    """One `python -m airlock serve --model scripted` process. `start()`, then `stop()`."""

    def __init__(self, base_dir: Path, *, strict: bool = True, extra_args: Sequence[str] = (),
                 startup_timeout_s: float = 60.0, api_key: str = API_KEY):
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "server.log"
        self.strict = strict
        self.extra_args = tuple(extra_args)
        self.startup_timeout_s = startup_timeout_s
        self.api_key = api_key
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What `openai.OpenAI(base_url=...)` takes."""
        return f"{self.root_url}/v1"

    def command(self) -> list[str]:
        assert self.port is not None
        return [sys.executable, "-m", "airlock", "serve", "--model", "scripted",
                "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
                "--api-key", self.api_key, *(["--scripted-strict"] if self.strict else []),
                *self.extra_args]

    def start(self) -> AirlockServer:
        assert self._proc is None, "the server is already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = free_port()
            self._spawn()
            why = self._wait_ready()
            if why is None:
                return self
            self.stop()
            if "address already in use" not in self.log_tail().lower() or attempt == _START_ATTEMPTS:
                raise ServerStartError(f"airlock server did not start: {why}\n"
                                       f"command: {' '.join(self.command())}\n"
                                       f"--- last lines of {self.log_path} ---\n{self.log_tail()}")
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # No kernel pre-warmed at start-up: most app tests never run code, and a kernel costs
        # a core for seconds. The first code_interpreter run starts one instead.
        env.setdefault("AIRLOCK_CODE_POOL_SIZE", "0")
        with open(self.log_path, "ab") as log:
            # cwd: the server's own directory, so nothing of the test's cwd shadows airlock.
            self._proc = subprocess.Popen(self.command(), cwd=self.base_dir, env=env,
                                          stdout=log, stderr=subprocess.STDOUT)

    def _wait_ready(self) -> str | None:
        """None once /health answers 200, else why not."""
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return f"the process exited with code {self._proc.returncode}"
            try:
                r = httpx.get(f"{self.root_url}/health", timeout=2.0)
                if r.status_code == 200:
                    return None
                last = f"/health answered {r.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            # The poll tick doubles as a wait for the process to exit early.
            try:
                self._proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        return f"/health not 200 within {self.startup_timeout_s:.0f} s ({last})"

    def exited(self) -> str | None:
        """Why the server is not running (its exit code and last log lines), or None if it is."""
        if self._proc is None:
            return "the airlock server is not started"
        if self._proc.poll() is None:
            return None
        return (f"the airlock server exited with code {self._proc.returncode}\n"
                f"--- last lines of {self.log_path} ---\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        """The log written after `offset` (a `log_size()` taken earlier)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log_since(0).splitlines()[-lines:])
