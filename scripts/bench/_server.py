"""Start and stop a real `airlock serve` for benchmarks, as a user would run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def airlock_server(*extra: str):
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as data_dir:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "airlock", "serve", "--port", str(port),
             "--data-dir", data_dir, "--log-level", "warning", *extra],
            env=env, stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("airlock did not become ready")
                time.sleep(0.05)
            yield base, data_dir
        finally:
            proc.terminate()
            proc.wait(timeout=30)
