"""Remote model: decode speed of an airlock run on a remote model ÷ the inference server's own.

Run: .venv/bin/python scripts/bench/remote_model.py [--runs 5] [--write docs/benchmarks.md]

Starts `python -m llama_cpp.server` on the embedded SmolLM2 GGUF (one thread, so the other core
is left to airlock and the client, as if the server were on its own host) and serves airlock
in this process (uvicorn on loopback, a models config pointing its default model at that
server). Each run streams the same greedy story twice, alternately:

- through airlock: the run's SSE `thread.message.delta` events, read off the socket by the
  client; the same generation is also timed where airlock's backend receives each token from
  the inference server (the server's own pace for exactly this reply);
- straight from the inference server: `/v1/chat/completions` chunks read off the socket.

Decode speed is (tokens - 1) / (last token's arrival - first token's), so prompt evaluation is
left out. Two ratios, each taken within a run: airlock's client-side speed ÷ the same
generation as the server sent it (immune to the machine's noise between requests), and ÷ the
alternate direct request (what a user compares, but exposed to that noise). Goal: ≥ 0.9.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from _report import bench_main, summary  # noqa: E402
from _server import free_port  # noqa: E402

from airlock.models.registry import Registry, embedded_gguf  # noqa: E402
from airlock.server.app import create_app  # noqa: E402
from airlock.service import Services  # noqa: E402
from airlock.settings import Settings  # noqa: E402

STORY = "Write a long story about a dragon who learns to bake bread."
MAX_TOKENS = 128
HEADERS = {"OpenAI-Beta": "assistants=v2"}


def start_inference(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf()),
         "--model_alias", "smol", "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "4096", "--n_threads", "1", "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("llama_cpp.server did not become ready")
        time.sleep(0.1)


def decode_rate(arrivals: list[float]) -> float:
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def direct(url: str) -> float:
    arrivals = []
    body = {"model": "smol", "messages": [{"role": "user", "content": STORY}], "stream": True,
            "temperature": 0.0, "top_p": 0.9, "max_tokens": MAX_TOKENS}
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=600) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                delta = json.loads(line[6:])["choices"][0]["delta"]
                if delta.get("content"):
                    arrivals.append(time.perf_counter())
    return decode_rate(arrivals)


class Stamped:
    """Wraps the remote backend: when each token arrived from the inference server."""

    def __init__(self, backend):
        self.backend, self.arrivals = backend, []
        self.name, self.n_ctx = backend.name, backend.n_ctx

    def count_tokens(self, *args):
        return self.backend.count_tokens(*args)

    def generate(self, request, on_text, should_stop):
        self.arrivals = []

        def stamped(piece):
            self.arrivals.append(time.perf_counter())
            on_text(piece)

        return self.backend.generate(request, stamped, should_stop)

    def close(self):
        self.backend.close()


def through_airlock(client: httpx.Client, assistant: str) -> tuple[float, int]:
    thread = client.post("/threads", json={"messages": [{"role": "user", "content": STORY}]}).json()
    arrivals, tokens = [], 0
    body = {"assistant_id": assistant, "max_completion_tokens": MAX_TOKENS, "temperature": 0.0,
            "stream": True}
    with client.stream("POST", f"/threads/{thread['id']}/runs", json=body) as r:
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "thread.message.delta":
                arrivals.append(time.perf_counter())
            elif line.startswith("data: ") and event in ("thread.run.completed",
                                                         "thread.run.incomplete"):
                tokens = json.loads(line[6:])["usage"]["completion_tokens"]
    return decode_rate(arrivals), tokens


def serve_airlock(data_dir: str, config: Path):
    """airlock in this process, on loopback; (base URL, the stamped backend, uvicorn server)."""
    registry = Registry.load(None, config)
    app = create_app(Services(Settings(data_dir=Path(data_dir), log_level="warning"), registry))
    stamped = Stamped(registry.backend("remote"))
    registry._backends["remote"] = stamped  # time what the engine receives from the server
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", stamped, server


def main() -> None:
    port = free_port()
    inference = start_inference(port)
    url = f"http://127.0.0.1:{port}/v1"
    work = tempfile.mkdtemp(prefix="airlock-remote-bench-")
    config = Path(work) / "models.toml"
    config.write_text(f'default = "remote"\n[models.remote]\nbase_url = "{url}"\nmodel = "smol"\n')
    base, stamped, server = serve_airlock(work, config)
    try:
        client = httpx.Client(base_url=f"{base}/v1", headers=HEADERS, timeout=600)
        assistant = client.post("/assistants", json={"model": "remote"}).json()["id"]
        through_airlock(client, assistant)  # warm-up: both sides have the prompt cached
        direct(url)

        def one_run() -> dict[str, float]:
            ours, tokens = through_airlock(client, assistant)
            sent = decode_rate(stamped.arrivals)
            theirs = direct(url)
            return {"airlock": ours, "sent": sent, "server": theirs, "tokens": tokens}

        def table(results: list[dict[str, float]]) -> str:
            med, ratio = summary(results)
            return "\n".join([
                "| measure | value |", "|---|---|",
                f"| decode through airlock, read by the client (tokens/s) | {med('airlock'):.1f} |",
                f"| the same replies as the server sent them to airlock (tokens/s) | "
                f"{med('sent'):.1f} |",
                f"| **ratio airlock ÷ the same generation at the server** (goal ≥ 0.9) | "
                f"**{ratio('airlock', 'sent'):.2f}** |",
                f"| decode straight from llama_cpp.server, alternate requests (tokens/s) | "
                f"{med('server'):.1f} |",
                f"| ratio airlock ÷ the alternate direct request | "
                f"{ratio('airlock', 'server'):.2f} |",
                f"| completion tokens per run | {med('tokens'):.0f} |",
            ])

        bench_main("remote_model", "Remote model: decode through airlock ÷ the inference "
                   "server's own", one_run, table)
    finally:
        server.should_exit = True
        inference.terminate()
        inference.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
