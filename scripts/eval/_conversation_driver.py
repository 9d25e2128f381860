"""Drives one conversation of scripts/eval/conversations.py through the official openai client.

Each user turn is one Assistants run, polled as the cookbook does, with every pending function
call answered from the conversation's data. What is recorded per run is a `RunResult`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import openai

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}
POLL_S = 0.05  # the run's wall time is read when the client sees it end: at most this late
CANCEL_WAIT_S = 30
# Tool markup that must never reach a user: chat-template tokens and tool-call syntax of the
# formats small models are trained on, or a message that is itself a JSON function call.
MARKUP = re.compile(
    r"<tool_call>|</tool_call>|<tool_response>|<\|python_tag\|>|<\|im_start\|>|<\|im_end\|>"
    r"|\A\s*(?:```\w*\s*)?\{\s*\"name\"")


@dataclass
class RunResult:
    conversation: str
    kind: str
    turn: int
    status: str  # a run status, or "timeout" (cancelled at the deadline), "skipped", "error"
    run_id: str | None = None
    seconds: float | None = None
    completion_tokens: int | None = None
    texts: list[str] = field(default_factory=list)  # the run's assistant messages
    markup_messages: int = 0
    calls: list[list[str]] = field(default_factory=list)  # [name, canonical args], in order
    duplicate_calls: int = 0
    action_rounds: int = 0  # times the run stopped in requires_action
    multi_call_rounds: int = 0  # of those, rounds with more than one call
    used_code: bool = False
    steps: list[str] = field(default_factory=list)  # "message_creation" or the tool types
    cited_files: list[str] = field(default_factory=list)
    expect_found: bool | None = None  # None: the turn has no expectation
    cite_ok: bool | None = None
    loop_guard_lines: int = 0
    measure: str | None = None
    error: str | None = None


def canonical(arguments: str) -> str:
    """The same call written twice compares equal, whatever its key order or spacing."""
    try:
        return json.dumps(json.loads(arguments), sort_keys=True, ensure_ascii=False)
    except ValueError:
        return arguments.strip()


def output_for(conversation: dict[str, Any], name: str, arguments: str) -> str:
    spec = conversation.get("outputs", {}).get(name)
    if spec is None:
        return json.dumps({"error": f"no output for {name} in the eval data"})
    if isinstance(spec, str):
        return spec
    try:
        args = json.loads(arguments)
    except ValueError:
        args = {}
    for case in spec.get("match", []):
        if all(args.get(k) == v for k, v in case["args"].items()):
            return case["output"]
    return spec["default"]


class Driver:
    def __init__(self, client: openai.OpenAI, deadline_s: float) -> None:
        self.client = client
        self.deadline_s = deadline_s

    def setup(self, conversation: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """The conversation's assistant (and vector store); returns (assistant id, file ids)."""
        c = self.client
        file_ids: dict[str, str] = {}
        resources: dict[str, Any] = {}
        if conversation.get("files"):
            for doc in conversation["files"]:
                f = c.files.create(file=(doc["name"], doc["text"].encode(), "text/plain"),
                                   purpose="assistants")
                file_ids[doc["name"]] = f.id
            store = c.vector_stores.create(name=conversation["id"])
            batch = c.vector_stores.file_batches.create_and_poll(
                vector_store_id=store.id, file_ids=list(file_ids.values()))
            if batch.file_counts.completed != len(file_ids):
                raise RuntimeError(f"{conversation['id']}: ingestion failed: {batch.file_counts}")
            resources = {"file_search": {"vector_store_ids": [store.id]}}
        assistant = c.beta.assistants.create(
            model="gpt-4o", name=conversation["id"], instructions=conversation["instructions"],
            tools=conversation["tools"], tool_resources=resources or None)
        return assistant.id, file_ids

    def converse(self, conversation: dict[str, Any], on_run_end) -> list[RunResult]:
        """All turns on one thread; after a run that could not be stopped the rest are skipped.
        on_run_end(result) is called as each run ends (the caller reads the server log then)."""
        assistant_id, file_ids = self.setup(conversation)
        thread = self.client.beta.threads.create()
        results: list[RunResult] = []
        stuck = False
        for i, turn in enumerate(conversation["turns"]):
            # An expectation counts as missed unless a run shows it met.
            r = RunResult(conversation["id"], conversation["kind"], i, "skipped",
                          measure=turn.get("measure"),
                          expect_found=False if turn.get("expect") else None,
                          cite_ok=False if turn.get("cite") else None)
            if not stuck:
                try:
                    stuck = self._turn(conversation, thread.id, assistant_id, turn, r)
                    self._inspect(thread.id, turn, file_ids, r)
                except openai.OpenAIError as exc:
                    r.status, r.error = "error", f"{type(exc).__name__}: {exc}"
                    stuck = True
            on_run_end(r)
            results.append(r)
        return results

    def _turn(self, conversation: dict[str, Any], thread_id: str, assistant_id: str,
              turn: dict[str, Any], r: RunResult) -> bool:
        """Runs one turn into r; True when its run is still active (the thread is unusable)."""
        runs = self.client.beta.threads.runs
        self.client.beta.threads.messages.create(thread_id, role="user", content=turn["user"])
        t0 = time.monotonic()
        run = runs.create(thread_id=thread_id, assistant_id=assistant_id)
        r.run_id = run.id
        while run.status not in TERMINAL:
            if time.monotonic() - t0 > self.deadline_s:
                return self._cancel(thread_id, run.id, r, t0)
            if run.status == "requires_action" and run.required_action is not None:
                calls = run.required_action.submit_tool_outputs.tool_calls
                r.action_rounds += 1
                r.multi_call_rounds += len(calls) > 1
                r.calls += [[c.function.name, canonical(c.function.arguments)] for c in calls]
                # Every pending call is answered: the cookbook's tool_calls[0] would be a 400.
                outputs = [{"tool_call_id": c.id,
                            "output": output_for(conversation, c.function.name, c.function.arguments)}
                           for c in calls]
                run = runs.submit_tool_outputs(thread_id=thread_id, run_id=run.id,
                                               tool_outputs=outputs)
                continue
            time.sleep(POLL_S)
            run = runs.retrieve(run.id, thread_id=thread_id)
        r.seconds = time.monotonic() - t0
        r.status = run.status
        r.completion_tokens = run.usage.completion_tokens if run.usage else None
        r.error = run.last_error.message if run.last_error else None
        return False

    def _cancel(self, thread_id: str, run_id: str, r: RunResult, t0: float) -> bool:
        runs = self.client.beta.threads.runs
        r.status, r.seconds = "timeout", time.monotonic() - t0
        try:
            run = runs.cancel(run_id, thread_id=thread_id)
        except openai.BadRequestError:  # it ended meanwhile
            run = runs.retrieve(run_id, thread_id=thread_id)
        end = time.monotonic() + CANCEL_WAIT_S
        while run.status not in TERMINAL and time.monotonic() < end:
            time.sleep(0.2)
            run = runs.retrieve(run_id, thread_id=thread_id)
        if run.usage:
            r.completion_tokens = run.usage.completion_tokens
        return run.status not in TERMINAL

    def _inspect(self, thread_id: str, turn: dict[str, Any], file_ids: dict[str, str],
                 r: RunResult) -> None:
        """Messages and steps of the run: markup, citations, code calls, expectations."""
        run_id = r.run_id
        if run_id is None:
            return
        c = self.client.beta.threads
        steps = c.runs.steps.list(run_id, thread_id=thread_id, limit=100, order="asc").data
        for step in steps:
            details = step.step_details
            if details.type != "tool_calls":
                r.steps.append(f"{details.type} ({step.status})")
                continue
            r.steps.append(",".join(call.type for call in details.tool_calls) + f" ({step.status})")
            for call in details.tool_calls:
                if call.type == "code_interpreter":
                    r.used_code = True
                    r.calls.append(["code_interpreter", call.code_interpreter.input.strip()])
        if r.completion_tokens is None and any(s.usage for s in steps):
            r.completion_tokens = sum(s.usage.completion_tokens for s in steps if s.usage)
        seen = [tuple(call) for call in r.calls]
        r.duplicate_calls = len(seen) - len(set(seen))
        names = {v: k for k, v in file_ids.items()}
        for m in c.messages.list(thread_id, run_id=run_id, order="asc", limit=100).data:
            parts = [p for p in m.content if p.type == "text"]
            r.markup_messages += any(MARKUP.search(p.text.value) for p in parts)
            for part in parts:
                r.texts.append(part.text.value)
                r.cited_files += [names.get(a.file_citation.file_id, a.file_citation.file_id)
                                  for a in part.text.annotations if a.type == "file_citation"]
        text = "\n".join(r.texts).lower()
        if turn.get("expect"):
            r.expect_found = any(e.lower() in text for e in turn["expect"])
        if turn.get("cite"):
            r.cite_ok = turn["cite"] in r.cited_files
