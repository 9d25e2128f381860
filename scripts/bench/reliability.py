"""Reliability: concurrent load, concurrent streams and kill -9 rounds against real servers.

Run from the root of the checkout (the server imports `airlock` from the current directory):
  .venv/bin/python scripts/bench/reliability.py [--clients 50 --ops 100 --streams 200 \
      --kill-rounds 10 --seed 1] [--keep] [--write docs/benchmarks.md]

Every part starts its own `airlock serve --model scripted` on its own data dir:
  1. load: C client threads, O operations each, a random mix of thread create (with a message),
     message add, message list, thread retrieve, assistant create, file upload and file
     retrieve. Every acknowledged write is recorded; reads of a client's own writes must show
     them (else a stale read); after the load every acknowledged object must read back with the
     content written (else a lost write). Any non-2xx answer or transport error is an error.
  2. streams: S threads each get a scripted reply queued, then S streamed runs start at once;
     each stream is read to `event: done`. A stream must end `thread.run.completed`, `done`,
     with the scripted text in its `thread.message.completed`; every run must read `completed`.
  3. kill -9: R rounds on one data dir. Each round starts the server, runs writer threads that
     record acknowledged messages and files, starts runs with slow scripted replies (one
     streamed) and background responses (`POST /v1/responses`, `background: true`; one is
     cancelled while queued), waits a bounded random delay, SIGKILLs the server mid-load and
     starts it again. Every acknowledged write must be there (files byte for byte), no run may
     stay active (`queued`, `in_progress`, `cancelling`): an interrupted run must be `failed`
     with `last_error.code == "server_error"`, and its thread must take a new message. Every
     acknowledged background response must still exist (a 404 is a lost one) and end within a
     deadline (else stuck): one interrupted mid-reply `failed` with `error.code ==
     "server_error"`, queued ones taken up and `completed`, the cancelled one `cancelled`; its
     replayed stream (`GET /v1/responses/{id}?stream=true`) must number its events 0..n-1 and
     end with the terminal event of its status, then `[DONE]`. After the last round every
     round's writes and background responses are checked again (a response must not change
     how it ended).
The table ends with the 1-minute load average at the start and the end: the machine is shared,
and the times only compare between runs on a similarly busy machine.
The script exits 1 when anything failed; the data dirs and server logs are then kept (as with
--keep) so the finding can be looked at.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _report import write_section  # noqa: E402

HEADERS = {"Authorization": "Bearer x", "OpenAI-Beta": "assistants=v2"}
ACTIVE = {"queued", "in_progress", "cancelling"}
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()
# load: how often each operation is drawn
MIX = {"create_thread": 15, "add_message": 25, "list_messages": 15, "retrieve_thread": 10,
       "create_assistant": 10, "upload_file": 15, "retrieve_file": 10}
KILL_WRITERS = 4
KILL_DELAY_S = (0.3, 2.0)  # the random wait between starting the runs and the SIGKILL
SLOW_REPLY_WORDS, SLOW_DELAY_MS = 40, 25  # ~1 s per slow run: most are active at the kill
START_DEADLINE_S = 60.0
KILL_BACKGROUND = 4  # background responses per round: one ahead of the runs, the rest behind
# After a restart the queued background responses run one after another (~1 s each): generous.
BACKGROUND_DEADLINE_S = 60.0
RESPONSE_ACTIVE = {"queued", "in_progress"}
# The event a background response's stream must end with, by the status it ended with.
TERMINAL_EVENT = {"completed": "response.completed", "incomplete": "response.incomplete",
                  "failed": "response.failed", "cancelled": "response.failed"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


# --- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m airlock serve --model scripted` on a fixed data dir; started, killed and
    started again as a user's process would be. The cwd's airlock is served (no PYTHONPATH)."""

    def __init__(self, data_dir: Path, log_dir: Path):
        self.data_dir, self.log_dir = data_dir, log_dir
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.starts = 0
        data_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> str:
        assert self.proc is None
        self.starts += 1
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(AIRLOCK_CODE_POOL_SIZE="0", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        stderr = self.log_dir / f"stderr.{self.starts}.log"
        with open(stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "airlock", "serve", "--port", str(port),
                 "--data-dir", str(self.data_dir), "--log-level", "warning", "--model", "scripted"],
                env=env, stdout=subprocess.DEVNULL, stderr=err)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                pass
            try:  # the poll tick: returns early if the process exits
                self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        self.stop()
        raise RuntimeError(f"airlock did not become ready; see {stderr}:\n"
                           + stderr.read_text(errors="replace")[-3000:])

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when the process is killed by the OOM killer."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None


def client(base: str, timeout: float = 60) -> httpx.Client:
    return httpx.Client(base_url=base, headers=HEADERS,
                        timeout=httpx.Timeout(timeout, connect=30))


def ok_json(r: httpx.Response) -> dict:
    if r.status_code != 200:
        raise Failure(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:200]}")
    return r.json()


class Failure(Exception):
    """A non-2xx answer or a wrong body."""


def all_messages(c: httpx.Client, thread_id: str) -> list[dict]:
    """Every message of a thread, oldest first."""
    out: list[dict] = []
    params: dict[str, str | int] = {"limit": 100, "order": "asc"}
    while True:
        page = ok_json(c.get(f"/v1/threads/{thread_id}/messages", params=params))
        out += page["data"]
        if not page["has_more"]:
            return out
        params["after"] = page["last_id"]


def text_of(message: dict) -> str:
    return "".join(p["text"]["value"] for p in message["content"] if p["type"] == "text")


# --- 1. load ---------------------------------------------------------------------------------

@dataclass
class Written:
    """What one load client had acknowledged."""
    threads: dict[str, list[tuple[str | None, str]]] = field(default_factory=dict)  # (msg id, text)
    thread_meta: dict[str, dict] = field(default_factory=dict)
    assistants: dict[str, tuple[str, str]] = field(default_factory=dict)  # (name, instructions)
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class LoadClient:
    index: int
    rng: random.Random
    written: Written = field(default_factory=Written)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def op(self, c: httpx.Client, kind: str, k: int) -> None:
        w, rng, tag = self.written, self.rng, f"c{self.index} op{k}"
        if kind in ("add_message", "list_messages", "retrieve_thread") and not w.threads:
            kind = "create_thread"
        if kind == "retrieve_file" and not w.files:
            kind = "upload_file"
        t0 = time.perf_counter()
        try:
            self._do(c, kind, k, w, rng, tag)
        except (Failure, httpx.HTTPError, ValueError, KeyError) as exc:
            self.errors.append(f"{kind}: {exc!r}"[:300])
        self.latencies.setdefault(kind, []).append(time.perf_counter() - t0)

    def _do(self, c: httpx.Client, kind: str, k: int, w: Written, rng: random.Random,
            tag: str) -> None:
        if kind == "create_thread":
            text, meta = f"{tag}: {words(rng, 8)}", {"client": str(self.index), "op": str(k)}
            body = {"messages": [{"role": "user", "content": text}], "metadata": meta}
            thread = ok_json(c.post("/v1/threads", json=body))
            w.threads[thread["id"]], w.thread_meta[thread["id"]] = [(None, text)], meta
        elif kind == "add_message":
            thread_id = rng.choice(list(w.threads))
            text = f"{tag}: {words(rng, rng.randint(3, 30))}"
            msg = ok_json(c.post(f"/v1/threads/{thread_id}/messages",
                                 json={"role": "user", "content": text}))
            w.threads[thread_id].append((msg["id"], text))
        elif kind == "list_messages":
            thread_id = rng.choice(list(w.threads))
            page = ok_json(c.get(f"/v1/threads/{thread_id}/messages", params={"limit": 20}))
            want = [text for _, text in reversed(w.threads[thread_id])][:20]
            if [text_of(m) for m in page["data"]] != want:
                self.stale.append(f"list {thread_id}: {len(page['data'])} of {len(want)} seen")
        elif kind == "retrieve_thread":
            thread_id = rng.choice(list(w.threads))
            thread = ok_json(c.get(f"/v1/threads/{thread_id}"))
            if thread["metadata"] != w.thread_meta[thread_id]:
                self.stale.append(f"thread {thread_id}: metadata {thread['metadata']}")
        elif kind == "create_assistant":
            name, instructions = f"{tag}", f"Answer briefly. {words(rng, 10)}"
            asst = ok_json(c.post("/v1/assistants", json={
                "model": "scripted", "name": name, "instructions": instructions}))
            w.assistants[asst["id"]] = (name, instructions)
        elif kind == "upload_file":
            data = rng.randbytes(rng.randint(16, 4096))
            f = ok_json(c.post("/v1/files", data={"purpose": "assistants"},
                               files={"file": (f"c{self.index}-{k}.bin", data)}))
            w.files[f["id"]] = data
        elif kind == "retrieve_file":
            file_id = rng.choice(list(w.files))
            f = ok_json(c.get(f"/v1/files/{file_id}"))
            if f["bytes"] != len(w.files[file_id]):
                self.stale.append(f"file {file_id}: {f['bytes']} bytes, wrote {len(w.files[file_id])}")


def check_written(base: str, written: list[Written], workers: int = 8) -> tuple[int, list[str]]:
    """(acknowledged writes checked, what was lost or differs), read back over `workers` clients."""
    jobs: list[tuple[str, str, object]] = []
    for w in written:
        jobs += [("thread", t, (msgs, w.thread_meta[t])) for t, msgs in w.threads.items()]
        jobs += [("assistant", a, v) for a, v in w.assistants.items()]
        jobs += [("file", f, v) for f, v in w.files.items()]
    lost: list[str] = []
    checked = [0]
    lock = threading.Lock()

    def check(c: httpx.Client, kind: str, oid: str, want) -> tuple[int, list[str]]:
        if kind == "thread":
            msgs, meta = want
            thread = c.get(f"/v1/threads/{oid}")
            if thread.status_code != 200 or thread.json()["metadata"] != meta:
                return 1 + len(msgs), [f"thread {oid}: {thread.status_code} {thread.text[:200]}"]
            got = all_messages(c, oid)
            bad = [f"thread {oid} message {i} ({mid}): {text!r} not read back"
                   for i, (mid, text) in enumerate(msgs)
                   if i >= len(got) or text_of(got[i]) != text or mid not in (None, got[i]["id"])]
            if len(got) != len(msgs):
                bad.append(f"thread {oid}: {len(got)} messages, acknowledged {len(msgs)}")
            return 1 + len(msgs), bad
        if kind == "assistant":
            r = c.get(f"/v1/assistants/{oid}")
            if r.status_code != 200 or (r.json()["name"], r.json()["instructions"]) != want:
                return 1, [f"assistant {oid}: {r.status_code} {r.text[:200]}"]
            return 1, []
        meta, content = c.get(f"/v1/files/{oid}"), c.get(f"/v1/files/{oid}/content")
        if meta.status_code != 200 or content.status_code != 200 or content.content != want:
            return 1, [f"file {oid}: {meta.status_code}/{content.status_code}, "
                       f"{len(content.content)} bytes read, {len(want)} written"]
        return 1, []

    def worker(mine: list) -> None:
        with client(base) as c:
            for kind, oid, want in mine:
                try:
                    n, bad = check(c, kind, oid, want)
                except (Failure, httpx.HTTPError) as exc:
                    n, bad = 1, [f"{kind} {oid}: {exc!r}"]
                with lock:
                    checked[0] += n
                    lost.extend(bad)

    threads = [threading.Thread(target=worker, args=(jobs[i::workers],)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return checked[0], lost


def part_load(work: Path, clients: int, ops: int, seed: int) -> dict:
    server = Server(work / "load" / "data", work / "load" / "logs")
    base = server.start()
    try:
        kinds, weights = list(MIX), list(MIX.values())
        states = [LoadClient(i, random.Random(seed * 1000 + i)) for i in range(clients)]
        barrier = threading.Barrier(clients + 1)

        def run(state: LoadClient) -> None:
            plan = state.rng.choices(kinds, weights, k=ops)
            with client(base) as c:
                barrier.wait()
                for k, kind in enumerate(plan):
                    state.op(c, kind, k)

        threads = [threading.Thread(target=run, args=(s,)) for s in states]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        t1 = time.perf_counter()
        checked, lost = check_written(base, [s.written for s in states])
        verify_s = time.perf_counter() - t1
    finally:
        server.stop()
    errors = [e for s in states for e in s.errors]
    stale = [e for s in states for e in s.stale]
    for what, items in (("load error", errors), ("stale read", stale), ("LOST", lost)):
        for item, n in Counter(items).most_common(10):
            log(f"{what}: {n}x {item}")
    by_kind = {k: [x for s in states for x in s.latencies.get(k, [])] for k in MIX}
    every = [x for v in by_kind.values() for x in v]
    return {"clients": clients, "ops": clients * ops, "wall_s": wall, "verify_s": verify_s,
            "rps": clients * ops / wall, "p50_ms": pct(every, 0.5) * 1000,
            "p99_ms": pct(every, 0.99) * 1000, "errors": len(errors), "stale": len(stale),
            "checked": checked, "lost": len(lost),
            "kinds": {k: (len(v), pct(v, 0.5) * 1000, pct(v, 0.99) * 1000)
                      for k, v in by_kind.items()}}


# --- 2. streams ------------------------------------------------------------------------------

@dataclass
class Stream:
    thread_id: str
    text: str
    events: list[str] = field(default_factory=list)
    run_id: str | None = None
    final_text: str | None = None
    error: str | None = None
    first_s: float | None = None
    done_s: float | None = None


def read_stream(c: httpx.Client, s: Stream, assistant_id: str, t0: float) -> None:
    body = {"assistant_id": assistant_id, "stream": True}
    try:
        with c.stream("POST", f"/v1/threads/{s.thread_id}/runs", json=body) as r:
            if r.status_code != 200:
                r.read()
                s.error = f"{r.status_code} {r.text[:200]}"
                return
            event = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: "):]
                    s.events.append(event)
                    if s.first_s is None:
                        s.first_s = time.perf_counter() - t0
                elif line.startswith("data: ") and event == "thread.run.created":
                    s.run_id = json.loads(line[len("data: "):])["id"]
                elif line.startswith("data: ") and event == "thread.message.completed":
                    s.final_text = text_of(json.loads(line[len("data: "):]))
        s.done_s = time.perf_counter() - t0
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        s.error = repr(exc)


def part_streams(work: Path, n: int, seed: int) -> dict:
    rng = random.Random(seed)
    server = Server(work / "streams" / "data", work / "streams" / "logs")
    base = server.start()
    try:
        t_setup = time.perf_counter()
        with client(base) as c:
            assistant = ok_json(c.post("/v1/assistants", json={"model": "scripted"}))["id"]
            streams = []
            for i in range(n):
                thread = ok_json(c.post("/v1/threads", json={
                    "messages": [{"role": "user", "content": f"stream {i}"}]}))["id"]
                text = f"Stream {i} says {words(rng, rng.randint(5, 25))}."
                ok_json(c.post("/airlock/v1/scripted/replies",
                               json={"replies": [{"text": text}], "thread_id": thread}))
                streams.append(Stream(thread, text))
        setup_s = time.perf_counter() - t_setup
        barrier = threading.Barrier(n + 1)
        t0 = [0.0]

        def run(s: Stream) -> None:
            with client(base, timeout=600) as c:
                barrier.wait()
                read_stream(c, s, assistant, t0[0])

        threads = [threading.Thread(target=run, args=(s,)) for s in streams]
        for t in threads:
            t.start()
        t0[0] = time.perf_counter()
        barrier.wait()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0[0]
        bad_end, wrong_text, not_completed = [], [], []
        with client(base) as c:
            for s in streams:
                if s.error or s.events[-2:] != ["thread.run.completed", "done"]:
                    bad_end.append(f"{s.thread_id}: {s.error or s.events[-3:]}")
                elif s.final_text != s.text:
                    wrong_text.append(f"{s.thread_id}: {s.final_text!r} != {s.text!r}")
                if s.run_id is None:
                    not_completed.append(f"{s.thread_id}: no run id streamed")
                    continue
                status = ok_json(c.get(f"/v1/threads/{s.thread_id}/runs/{s.run_id}"))["status"]
                if status != "completed":
                    not_completed.append(f"{s.run_id}: {status}")
    finally:
        server.stop()
    for what, items in (("stream end", bad_end), ("stream text", wrong_text),
                        ("run status", not_completed)):
        for item in items[:10]:
            log(f"{what}: {item}")
    done = [s.done_s for s in streams if s.done_s is not None]
    return {"streams": n, "setup_s": setup_s, "wall_s": wall, "bad_end": len(bad_end),
            "wrong_text": len(wrong_text), "not_completed": len(not_completed),
            "first_p50_ms": pct([s.first_s for s in streams if s.first_s is not None], 0.5) * 1000,
            "done_p50_s": pct(done, 0.5), "done_max_s": max(done, default=float("nan"))}


# --- 3. kill -9 ------------------------------------------------------------------------------

@dataclass
class Acked:
    messages: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (thread, text)
    files: dict[str, bytes] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)  # run id -> thread id
    # background response id -> the status it must end with (None: any proper ending)
    responses: dict[str, str | None] = field(default_factory=dict)


def writer(base: str, thread_id: str, rng: random.Random, killed: threading.Event, acked: Acked,
           lock: threading.Lock, errors: list[str], cut: list[str], tag: str) -> None:
    """Writes until the kill; a write counts once its answer is read (acknowledged)."""
    with client(base, timeout=30) as c:
        k = 0
        while not killed.is_set():
            k += 1
            try:
                if k % 2:
                    text = f"{tag} write {k}: {words(rng, rng.randint(3, 20))}"
                    r = c.post(f"/v1/threads/{thread_id}/messages",
                               json={"role": "user", "content": text})
                    if r.status_code == 200:
                        with lock:
                            acked.messages[r.json()["id"]] = (thread_id, text)
                else:
                    data = rng.randbytes(rng.randint(16, 8192))
                    r = c.post("/v1/files", data={"purpose": "assistants"},
                               files={"file": (f"{tag}-{k}.bin", data)})
                    if r.status_code == 200:
                        with lock:
                            acked.files[r.json()["id"]] = data
                if r.status_code != 200:
                    errors.append(f"write: {r.status_code} {r.text[:200]}")
            except (httpx.HTTPError, ValueError) as exc:
                # a write the kill cut short was never acknowledged: expected, and counted
                (cut if killed.is_set() else errors).append(f"write: {exc!r}")


def streamed_run(base: str, thread_id: str, assistant_id: str, killed: threading.Event,
                 acked: Acked, lock: threading.Lock, errors: list[str],
                 created: threading.Event) -> None:
    """A streamed run read until the kill cuts it; acknowledged once `thread.run.created` came."""
    error = None
    try:
        with client(base, timeout=60) as c:
            body = {"assistant_id": assistant_id, "stream": True}
            with c.stream("POST", f"/v1/threads/{thread_id}/runs", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    raise Failure(f"{r.status_code} {r.text[:200]}")
                event = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[len("event: "):]
                    elif line.startswith("data: ") and event == "thread.run.created":
                        with lock:
                            acked.runs[json.loads(line[len("data: "):])["id"]] = thread_id
                        created.set()
    except (Failure, httpx.HTTPError, ValueError) as exc:
        error = repr(exc)
    finally:
        created.set()
    if error and not killed.is_set():
        errors.append(f"streamed run: {error}")


def background_response(c: httpx.Client, text: str, acked: Acked, lock: threading.Lock,
                        errors: list[str]) -> str:
    """A background response, recorded once its 200 (the acknowledgement) is read."""
    body = ok_json(c.post("/v1/responses", json={"model": "scripted", "input": text,
                                                  "background": True}))
    with lock:
        acked.responses[body["id"]] = None
    if body["status"] != "queued" or not body["id"].startswith("resp_"):
        errors.append(f"background response {body['id']}: created {body['status']}")
    return body["id"]


def cancel_queued(c: httpx.Client, response_id: str, acked: Acked, lock: threading.Lock,
                  errors: list[str]) -> None:
    """Cancels a response still queued; an acknowledged cancel must outlive the kill."""
    body = ok_json(c.post(f"/v1/responses/{response_id}/cancel"))
    if body["status"] != "cancelled":
        errors.append(f"cancel {response_id}: answered {body['status']}")
        return
    with lock:
        acked.responses[response_id] = "cancelled"


def kill_round(server: Server, rnd: int, rng: random.Random, assistant_id: str) -> tuple[Acked, dict]:
    """One round: load, SIGKILL, restart. Returns what was acknowledged and the round's facts."""
    base = server.base
    acked, lock, errors, cut, killed = Acked(), threading.Lock(), [], [], threading.Event()
    with client(base) as c:
        def new_thread() -> str:
            first = {"role": "user", "content": f"round {rnd}"}
            return ok_json(c.post("/v1/threads", json={"messages": [first]}))["id"]

        writer_threads = [new_thread() for _ in range(KILL_WRITERS)]
        run_threads = [new_thread() for _ in range(4)]
        replies = [{"text": f"Round {rnd} quick reply."}] + [
            {"text": words(rng, SLOW_REPLY_WORDS), "delay_ms": SLOW_DELAY_MS}] * 3
        for thread_id, reply in zip(run_threads, replies, strict=True):
            ok_json(c.post("/airlock/v1/scripted/replies",
                           json={"replies": [reply], "thread_id": thread_id}))
        # Background responses take the global queue in the order they run; the last one is
        # cancelled before it runs, so it gets none (it would echo).
        slow = {"text": words(rng, SLOW_REPLY_WORDS), "delay_ms": SLOW_DELAY_MS}
        ok_json(c.post("/airlock/v1/scripted/replies",
                       json={"replies": [slow] * (KILL_BACKGROUND - 1)}))
        workers = [threading.Thread(target=writer, args=(
            base, t, random.Random(rng.random()), killed, acked, lock, errors, cut, f"r{rnd}w{i}"))
            for i, t in enumerate(writer_threads)]
        for w in workers:
            w.start()
        # The one worker takes queued runs before background responses: this first response,
        # made while it is idle, is mid-reply at an early kill (it must end failed) and done at
        # a late one; the others wait behind the runs, queued at the kill (a restart must take
        # them up).
        background_response(c, f"round {rnd} background 0", acked, lock, errors)
        for thread_id in run_threads[:3]:  # the quick run first: it may complete before the kill
            run = ok_json(c.post(f"/v1/threads/{thread_id}/runs", json={"assistant_id": assistant_id}))
            with lock:
                acked.runs[run["id"]] = thread_id
        behind = [background_response(c, f"round {rnd} background {i}", acked, lock, errors)
                  for i in range(1, KILL_BACKGROUND)]
        cancel_queued(c, behind[-1], acked, lock, errors)
    created = threading.Event()
    streamer = threading.Thread(target=streamed_run, args=(
        base, run_threads[3], assistant_id, killed, acked, lock, errors, created))
    streamer.start()
    created.wait(timeout=60)
    delay = rng.uniform(*KILL_DELAY_S)
    time.sleep(delay)  # the point of the test: kill at a random moment of the load
    killed.set()
    server.kill()
    for t in [*workers, streamer]:
        t.join()
    t0 = time.perf_counter()
    server.start()
    restart_s = time.perf_counter() - t0
    return acked, {"delay_s": delay, "restart_s": restart_s, "errors": errors, "cut": len(cut)}


def check_acked(base: str, acked: Acked) -> tuple[list[str], list[str], Counter]:
    """(lost writes, stuck runs, run outcomes) as the restarted server reads them."""
    lost, stuck, outcomes = [], [], Counter()
    with client(base) as c:
        threads = {t for t, _ in acked.messages.values()}
        seen: dict[str, str] = {}
        for thread_id in threads:
            try:
                seen |= {m["id"]: text_of(m) for m in all_messages(c, thread_id)}
            except (Failure, httpx.HTTPError) as exc:
                lost.append(f"thread {thread_id}: {exc!r}")
        for mid, (thread_id, text) in acked.messages.items():
            if seen.get(mid) != text:
                lost.append(f"message {mid} in {thread_id}: read {seen.get(mid)!r}, wrote {text!r}")
        for fid, data in acked.files.items():
            r = c.get(f"/v1/files/{fid}/content")
            if r.status_code != 200 or r.content != data:
                lost.append(f"file {fid}: {r.status_code}, {len(r.content)} bytes read, "
                            f"{len(data)} written")
        for run_id, thread_id in acked.runs.items():
            r = c.get(f"/v1/threads/{thread_id}/runs/{run_id}")
            if r.status_code != 200:
                lost.append(f"run {run_id}: {r.status_code} {r.text[:200]}")
                continue
            run = r.json()
            code = (run.get("last_error") or {}).get("code")
            outcome = run["status"] if run["status"] != "failed" else f"failed ({code})"
            outcomes[outcome] += 1
            if run["status"] in ACTIVE or (run["status"] == "failed" and code != "server_error") \
                    or run["status"] not in ("completed", "failed"):
                stuck.append(f"run {run_id} on {thread_id}: {outcome}")
                continue
            m = c.post(f"/v1/threads/{thread_id}/messages",
                       json={"role": "user", "content": "after the restart"})
            if m.status_code != 200:
                stuck.append(f"run {run_id}: its thread refuses a message: {m.text[:200]}")
    return lost, stuck, outcomes


@dataclass
class BackgroundCheck:
    """What the restarted server shows of acknowledged background responses."""
    lost: list[str] = field(default_factory=list)  # 404: the acknowledgement was not kept
    stuck: list[str] = field(default_factory=list)  # still queued or in progress at the deadline
    bad: list[str] = field(default_factory=list)  # a wrong ending, a broken stream, an error
    outcomes: Counter = field(default_factory=Counter)
    ended: dict[str, str] = field(default_factory=dict)  # id -> the status it ended with

    def problems(self) -> list[str]:
        return self.lost + self.stuck + self.bad


def settled_responses(c: httpx.Client, ids: list[str], check: BackgroundCheck) -> dict[str, dict]:
    """Polls the responses until none is queued or in progress, or the deadline passes; their
    objects as last read (404s and other failures go to `check`)."""
    objects: dict[str, dict] = {}
    pending, deadline = list(ids), time.monotonic() + BACKGROUND_DEADLINE_S
    while pending:
        still = []
        for response_id in pending:
            try:
                r = c.get(f"/v1/responses/{response_id}")
            except httpx.HTTPError as exc:
                check.bad.append(f"response {response_id}: {exc!r}")
                continue
            if r.status_code != 200:  # gone, though an earlier sweep may have read it
                objects.pop(response_id, None)
            if r.status_code == 404:
                check.lost.append(f"response {response_id}: 404 {r.text[:200]}")
            elif r.status_code != 200:
                check.bad.append(f"response {response_id}: {r.status_code} {r.text[:200]}")
            else:
                objects[response_id] = r.json()
                if objects[response_id]["status"] in RESPONSE_ACTIVE:
                    still.append(response_id)
        pending = still
        if pending and time.monotonic() < deadline:
            time.sleep(0.1)
        elif pending:
            break
    return objects


def replayed(c: httpx.Client, response_id: str) -> tuple[list[dict], bool]:
    """The response's stream as `GET ?stream=true` replays it: its events, and whether
    `data: [DONE]` followed. An ended response's replay ends at once; one that never ends
    raises the read timeout."""
    events: list[dict] = []
    done = False
    with c.stream("GET", f"/v1/responses/{response_id}", params={"stream": "true"}) as r:
        if r.status_code != 200:
            r.read()
            raise Failure(f"replay: {r.status_code} {r.text[:200]}")
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                data = json.loads(line[len("data: "):])
                if data.get("type") != event:
                    raise Failure(f"replay: frame `event: {event}` carries {data.get('type')}")
                events.append(data)
    return events, done


def stream_problems(response_id: str, status: str, events: list[dict], done: bool) -> list[str]:
    """What is wrong with an ended response's replayed stream, if anything."""
    where = f"response {response_id} ({status}) stream"
    numbers = [e.get("sequence_number") for e in events]
    out = []
    if numbers != list(range(len(events))):
        out.append(f"{where}: sequence numbers {numbers[:5]}…{numbers[-5:]} of {len(events)}")
    kinds = [e["type"] for e in events]
    if not kinds or kinds[-1] != TERMINAL_EVENT.get(status):
        out.append(f"{where}: ends {kinds[-3:]}, expected {TERMINAL_EVENT.get(status)}")
    elif (events[-1].get("response") or {}).get("status") != status:
        out.append(f"{where}: its {kinds[-1]} says {events[-1].get('response', {}).get('status')}")
    if sum(k in TERMINAL_EVENT.values() for k in kinds) > 1:
        out.append(f"{where}: {sum(k in TERMINAL_EVENT.values() for k in kinds)} terminal events")
    if not done:
        out.append(f"{where}: no `data: [DONE]`")
    return out


def check_background(base: str, want: dict[str, str | None]) -> BackgroundCheck:
    """Waits for the acknowledged background responses to end, then checks each one's ending
    and replayed stream. `want`: id -> the status it must end with (None: any proper one)."""
    check = BackgroundCheck()
    with client(base, timeout=30) as c:
        for response_id, body in settled_responses(c, list(want), check).items():
            status = body["status"]
            code = (body.get("error") or {}).get("code")
            outcome = status if status != "failed" else f"failed ({code})"
            check.outcomes[outcome] += 1
            if status in RESPONSE_ACTIVE:
                check.stuck.append(f"response {response_id}: still {status} after "
                                   f"{BACKGROUND_DEADLINE_S:.0f} s")
                continue
            check.ended[response_id] = status
            if want[response_id] not in (None, status):
                check.bad.append(f"response {response_id}: {outcome}, was {want[response_id]}")
            elif status not in ("completed", "failed", "cancelled") \
                    or (status == "failed" and code != "server_error"):
                check.bad.append(f"response {response_id}: ended {outcome}: "
                                 f"{(body.get('error') or {}).get('message')}")
            try:
                check.bad += stream_problems(response_id, status, *replayed(c, response_id))
            except (Failure, httpx.HTTPError, ValueError) as exc:
                check.bad.append(f"response {response_id} stream: {exc!r}")
    return check


def part_kill(work: Path, rounds: int, seed: int) -> dict:
    rng = random.Random(seed)
    server = Server(work / "kill" / "data", work / "kill" / "logs")
    t_all = time.perf_counter()
    server.start()
    try:
        with client(server.base) as c:
            assistant = ok_json(c.post("/v1/assistants", json={"model": "scripted"}))["id"]
        every = Acked()
        lost, stuck, outcomes, errors, restarts, delays = [], [], Counter(), [], [], []
        background, ended = BackgroundCheck(), {}
        cut = 0
        for rnd in range(rounds):
            acked, facts = kill_round(server, rnd, rng, assistant)
            round_lost, round_stuck, o = check_acked(server.base, acked)
            bg = check_background(server.base, acked.responses)
            log(f"kill round {rnd + 1}/{rounds}: killed after {facts['delay_s']:.2f} s, "
                f"{len(acked.messages)} messages + {len(acked.files)} files acknowledged, "
                f"{facts['cut']} cut, runs {dict(o)}, background {dict(bg.outcomes)}, restart "
                f"{facts['restart_s']:.2f} s, lost {len(round_lost)} + {len(bg.lost)} responses, "
                f"stuck {len(round_stuck)} + {len(bg.stuck)} responses, bad {len(bg.bad)}")
            for item in round_lost + round_stuck + bg.problems() + facts["errors"]:
                log(f"  round {rnd + 1}: {item}")
            lost += round_lost
            stuck += round_stuck
            outcomes += o
            background.lost += bg.lost
            background.stuck += bg.stuck
            background.bad += bg.bad
            background.outcomes += bg.outcomes
            ended |= bg.ended
            errors += facts["errors"]
            cut += facts["cut"]
            restarts.append(facts["restart_s"])
            delays.append(facts["delay_s"])
            every.messages |= acked.messages
            every.files |= acked.files
            every.responses |= acked.responses
        # Every round's writes again, on the server restarted after the last kill; and every
        # round's background responses, which must still end as they ended in their round.
        final_lost, _, _ = check_acked(server.base, Acked(every.messages, every.files))
        with client(server.base) as c:
            if c.get(f"/v1/assistants/{assistant}").status_code != 200:
                final_lost.append(f"assistant {assistant} made before round 1")
        final_bg = check_background(server.base, {**dict.fromkeys(every.responses), **ended})
        for item in final_lost + final_bg.problems():
            log(f"  final check: {item}")
    finally:
        server.stop()
    return {"rounds": rounds, "messages": len(every.messages), "files": len(every.files),
            "lost": len(lost), "final_lost": len(final_lost), "runs": sum(outcomes.values()),
            "outcomes": dict(outcomes), "stuck": len(stuck), "errors": len(errors),
            "responses": len(every.responses), "bg_outcomes": dict(background.outcomes),
            "bg_lost": len(background.lost), "bg_stuck": len(background.stuck),
            "bg_bad": len(background.bad), "bg_final": len(final_bg.problems()),
            "restart_p50_s": pct(restarts, 0.5), "restart_max_s": max(restarts),
            "delay_min_s": min(delays), "delay_max_s": max(delays), "cut": cut,
            "wall_s": time.perf_counter() - t_all}


# --- the report ------------------------------------------------------------------------------

def table(load: dict | None, streams: dict | None, kill: dict | None,
          loads: tuple[float, float]) -> str:
    out = ["| part | scale | result | errors | lost / stuck | time |", "|---|---|---|---|---|---|"]
    if load:
        out.append(
            f"| load: mixed API calls | {load['clients']} clients × {load['ops'] // load['clients']} "
            f"ops = {load['ops']} | {load['rps']:.0f} ops/s, p50 {load['p50_ms']:.1f} ms, p99 "
            f"{load['p99_ms']:.1f} ms; {load['stale']} stale reads of own writes | "
            f"**{load['errors']}** | **{load['lost']} lost** of {load['checked']} acknowledged "
            f"writes read back | {load['wall_s']:.1f} s (+ {load['verify_s']:.1f} s read-back) |")
    if streams:
        ok = streams["streams"] - streams["bad_end"]
        out.append(
            f"| streamed runs at once | {streams['streams']} streams | {ok} ended "
            f"`thread.run.completed`, `done`; {streams['wrong_text']} with a wrong text; first "
            f"event p50 {streams['first_p50_ms']:.0f} ms, done p50 {streams['done_p50_s']:.1f} s, "
            f"max {streams['done_max_s']:.1f} s | **{streams['bad_end']}** | "
            f"**{streams['not_completed']}** runs not `completed` | {streams['wall_s']:.1f} s "
            f"(+ {streams['setup_s']:.1f} s setup) |")
    if kill:
        runs = ", ".join(f"{n} {k}" for k, n in sorted(kill["outcomes"].items()))
        responses = ", ".join(f"{n} {k}" for k, n in sorted(kill["bg_outcomes"].items()))
        out.append(
            f"| `kill -9` mid-load, restart | {kill['rounds']} rounds | {kill['messages']} messages "
            f"+ {kill['files']} files acknowledged; {kill['runs']} runs: {runs}; "
            f"{kill['responses']} background responses acknowledged: {responses}; killed "
            f"{kill['delay_min_s']:.1f}–{kill['delay_max_s']:.1f} s into the load ({kill['cut']} writes "
            f"cut in flight), restart p50 "
            f"{kill['restart_p50_s']:.1f} s (max {kill['restart_max_s']:.1f} s) | "
            f"**{kill['errors']}** | **{kill['lost']} lost** ({kill['final_lost']} at the final "
            f"re-check), **{kill['stuck']} stuck**; background responses: **{kill['bg_lost']} "
            f"lost**, **{kill['bg_stuck']} stuck**, **{kill['bg_bad']}** with a wrong ending or "
            f"stream ({kill['bg_final']} problems at the final re-check) | {kill['wall_s']:.1f} s |")
    if load:
        kinds = "; ".join(f"{k} {n}× {p50:.1f} / {p99:.1f}"
                          for k, (n, p50, p99) in load["kinds"].items())
        out += ["", f"Load, per call (count, p50 / p99 ms): {kinds}."]
    out += ["", f"The machine (2 cores, shared with other work) had a 1-minute load average of "
                f"{loads[0]:.2f} at the start and {loads[1]:.2f} at the end."]
    return "\n".join(out)


def failed(load: dict | None, streams: dict | None, kill: dict | None) -> bool:
    return bool((load and (load["errors"] or load["stale"] or load["lost"]))
                or (streams and (streams["bad_end"] or streams["wrong_text"]
                                 or streams["not_completed"]))
                or (kill and (kill["errors"] or kill["lost"] or kill["final_lost"] or kill["stuck"]
                              or kill["bg_lost"] or kill["bg_stuck"] or kill["bg_bad"]
                              or kill["bg_final"])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--ops", type=int, default=100)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--kill-rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the data dirs and server logs")
    ap.add_argument("--write", help="update this markdown file's `reliability` section")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="airlock-reliability-"))
    log(f"data dirs and server logs under {work}")
    load = streams = kill = None
    crashed = True
    load_before = os.getloadavg()[0]
    try:
        if args.clients and args.ops:
            log(f"load: {args.clients} clients × {args.ops} ops")
            load = part_load(work, args.clients, args.ops, args.seed)
            log(f"load: {load['wall_s']:.1f} s")
        if args.streams:
            log(f"streams: {args.streams} at once")
            streams = part_streams(work, args.streams, args.seed)
            log(f"streams: {streams['wall_s']:.1f} s")
        if args.kill_rounds:
            log(f"kill -9: {args.kill_rounds} rounds")
            kill = part_kill(work, args.kill_rounds, args.seed)
            log(f"kill -9: {kill['wall_s']:.1f} s")
        crashed = False
    finally:
        bad = failed(load, streams, kill)
        if args.keep or bad or crashed:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = table(load, streams, kill, (load_before, os.getloadavg()[0]))
    print(text)
    if args.write:
        command = "python scripts/bench/reliability.py " + " ".join(sys.argv[1:])
        write_section(Path(args.write), "reliability",
                      "Reliability: load, concurrent streams, kill -9", text, 1, command)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
