"""The scripted model: deterministic replies for people testing their Assistants apps offline.

Replies come from a queue the engine owns (`next_reply`); with none queued it echoes the last
user message, or, when strict, fails the turn naming the thread: a test that forgot to queue a
reply then says so instead of asserting on an echo. Text is emitted word by word so streams and
cancellation behave as with a model.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from airlock.models.backend import TurnRequest, TurnResult
from airlock.models.function_prompt import plain_messages

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PIECE = re.compile(r"\s*\S+\s*|\s+")


class ScriptedFailure(RuntimeError):
    """A reply with "error": the model fails after emitting its text, so apps can test failures."""


class ScriptedBackend:
    name = "scripted"
    # Its replies are the test's, word for word: the engine decides nothing for it.
    scripted = True
    n_ctx = 32768

    def __init__(self, next_reply: Callable[[str | None], dict[str, Any] | None], strict: bool = False):
        self._next_reply = next_reply
        self._strict = strict

    def count_tokens(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = (),
                     tool_choice: Any = "none") -> int:
        # A stand-in tokenizer: words and punctuation, plus a few tokens of framing per message.
        plain = plain_messages(messages, list(tools), tool_choice)
        return sum(len(_TOKEN.findall(m["content"])) + 4 for m in plain) + 2

    def generate(
        self, request: TurnRequest, on_text: Callable[[str], None], should_stop: Callable[[], bool]
    ) -> TurnResult:
        reply = self._next_reply(request.thread_id)
        if reply and reply.get("tool_calls") and request.tool_choice != "none":
            return self._calls(request, reply["tool_calls"])
        if reply is None and self._strict:
            raise ScriptedFailure(
                f"No scripted reply queued for thread {request.thread_id} (queue one with "
                "airlock.reply(...) in the pytest plugin, or POST /airlock/v1/scripted/replies)")
        if reply is None:
            last_user = next(
                (m["content"] for m in reversed(request.messages) if m["role"] == "user"), ""
            )
            reply = {"text": _echo(f"You said: {last_user}", request)}
        # delay_ms paces each piece, to imitate a slow model (e.g. to cancel mid-reply).
        delay = float(reply.get("delay_ms", 0)) / 1000
        text, finish = "", "stop"
        for i, piece in enumerate(_PIECE.findall(reply.get("text", ""))):
            if i >= request.max_tokens:
                finish = "length"
                break
            _pause(delay, should_stop)
            if should_stop():
                finish = "cancelled"
                break
            text += piece
            on_text(piece)
        if reply.get("error") and finish == "stop":
            raise ScriptedFailure(reply["error"])
        return TurnResult(
            text=text,
            prompt_tokens=self.count_tokens(request.messages, request.tools, request.tool_choice),
            completion_tokens=len(_PIECE.findall(text)),
            finish_reason=finish,  # type: ignore[arg-type]
        )

    def _calls(self, request: TurnRequest, calls: list[dict[str, Any]]) -> TurnResult:
        declared = {t["name"] for t in request.tools}
        out = []
        for call in calls:
            if call["type"] == "function":
                name, args = call["function"]["name"], call["function"].get("arguments", {})
            else:
                # Built-in tools are offered as functions of their own name; the reply's
                # settings ({"query": ...} for file_search) are that function's arguments.
                name, args = call["type"], dict(call.get(call["type"]) or {})
                if name == "code_interpreter" and "input" in args:
                    args = {"code": args["input"]}  # the reply uses the step's field name
            if name not in declared:
                raise ScriptedFailure(f"scripted call to '{name}', which this run does not offer")
            out.append({"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)})
        if not request.parallel_tool_calls:
            out = out[:1]
        return TurnResult(text="", prompt_tokens=self.count_tokens(request.messages, request.tools,
                                                                   request.tool_choice),
                          completion_tokens=sum(len(_TOKEN.findall(c["arguments"])) for c in out),
                          finish_reason="stop", tool_calls=out)

    def close(self) -> None:
        pass


def _echo(said: str, request: TurnRequest) -> str:
    """The echo in the format the request asks for: under a JSON format it is a JSON value (the
    echo in an object, or the smallest instance of the schema with the echo in its strings), so
    an app that forgot to queue a reply gets a parseable answer, not a failed turn."""
    if request.json_schema is not None:
        return json.dumps(_instance(request.json_schema, said, request.json_schema))
    if request.json_object:
        return json.dumps({"echo": said})
    return said


def _instance(schema: Any, said: str, root: dict[str, Any], depth: int = 0) -> Any:
    """A small value valid under the subset of JSON Schema structured outputs allow: required
    properties only, first enum/const/anyOf choice, empty arrays where allowed."""
    if not isinstance(schema, dict) or depth > 16:
        return None
    if isinstance(ref := schema.get("$ref"), str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _instance(target, said, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _instance(schema[key][0], said, root, depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _instance(props.get(name, {}), said, root, depth + 1)
                for name in schema.get("required", [])}
    if kind == "array":
        item = _instance(schema.get("items", {}), said, root, depth + 1)
        return [item] * int(schema.get("minItems", 0))
    if kind == "string":
        return said
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return {"boolean": False}.get(kind)


def _pause(seconds: float, should_stop: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0 and not should_stop():
        time.sleep(min(left, 0.02))
