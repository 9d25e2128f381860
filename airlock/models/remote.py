"""A model served by an OpenAI-compatible chat-completions server (llama.cpp's server,
llama-cpp-python's `llama_cpp.server`, vLLM, Ollama): the third `ModelBackend`.

Every turn is one streamed `POST {base_url}/chat/completions` (two when a reply turns out to be
a call, below). How tool calls and JSON replies are kept well-formed depends on what the server
can constrain (`constrain` in the models config):

- "grammar" (llama.cpp servers): the reply is decoded under the same GBNF grammars the local
  backend uses (models.json_grammar), sent in the request's `grammar` field;
- "json_schema": the same constraints as an OpenAI `response_format` of type json_schema
  (vLLM, llama.cpp's server, OpenAI itself);
- "tools": no constraint of ours; tools go to the server as `tools`/`tool_choice` and its own
  tool-call parser answers with `tool_calls`; response_format is passed through.

In the first two, tools are described in the prompt (models.function_prompt's generic tool
section, tool rounds as plain turns), so any chat template on the server works. A forced call
(tool_choice "required" or a function name) is one constrained request whose JSON is the call.
With tool_choice "auto", when the config sets `call_threshold`, a one-token request with
`logprobs` decides first, as the local backend does for the generic format: the model calls when
the probability that its reply starts with `<` (summed over the server's top 20 first tokens)
is at least the threshold. Otherwise (or when it answers) the reply streams freely; text that
starts like a call (`<tool_call>`, `{"name"`) is held back, and once it is one, that stream is
dropped and the call is asked for again under the call's constraint, so it always parses. One
call per turn. Tool-result markup the model invents (`<tool_response>`) ends its reply.

Usage comes from the server (`stream_options.include_usage`); a server that sends none in
streams (llama-cpp-python's) gets its completion tokens counted as streamed chunks (one per
token there) and its prompt tokens estimated like `count_tokens`.

Streams are read on a helper thread so that a cancel is honoured at once, even while the server
is still evaluating the prompt: the response is closed, which ends generation on servers that
watch for disconnects. A connection error, a timeout or an error status raises
`RemoteModelError` naming the server; the engine fails the run with it as last_error.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from typing import Any, Literal

import httpx

from airlock.models.backend import FinishReason, TurnRequest, TurnResult
from airlock.models.function_prompt import plain_messages
from airlock.models.json_grammar import (
    all_declared,
    json_object_gbnf,
    json_schema_gbnf,
    quantize_budget,
)

Constrain = Literal["grammar", "json_schema", "tools"]
CONSTRAIN_MODES: tuple[str, ...] = ("grammar", "json_schema", "tools")
DEFAULT_TIMEOUT_S = 120.0
# How often a waiting turn looks at its cancel flag while no chunk arrives.
POLL_S = 0.05
# Text that opens a call, compared with whitespace removed (models.function_prompt's format,
# and the bare or fenced JSON small models also write).
_CALL_OPENERS = ('<tool_call>{"name"', '{"name"', '```json{"name"', '```{"name"')
# A rough tokenizer for prompts we cannot tokenize locally: about 3 characters a token (English
# runs near 4, so this over-counts, which keeps prompt fitting on the safe side).
_CHARS_PER_TOKEN = 3
_PER_MESSAGE = 4
# Markup of the generic tool format that is never part of a reply (the server stops there).
_STOPS = ["<tool_response>", "</tool_response>", "</tool_call>"]
# First-token candidates asked for when deciding whether to call (OpenAI allows up to 20).
_TOP_LOGPROBS = 20


class RemoteModelError(RuntimeError):
    """The inference server could not be reached, timed out, or refused the request."""


class RemoteBackend:
    """One remote model. The engine calls it from one worker thread at a time."""

    def __init__(self, name: str, base_url: str, model: str, *, api_key: str | None = None,
                 n_ctx: int = 4096, constrain: Constrain = "grammar",
                 timeout: float = DEFAULT_TIMEOUT_S, sampler_keys: Sequence[str] = (),
                 call_threshold: float | None = None):
        if constrain not in CONSTRAIN_MODES:
            raise ValueError(f"constrain must be one of {', '.join(CONSTRAIN_MODES)}")
        self.name = name
        self.n_ctx = n_ctx
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.constrain = constrain
        self.timeout = timeout
        # Sampler settings beyond temperature/top_p (top_k, min_p, repeat_penalty) are sent
        # only when the models config sets them: OpenAI itself refuses unknown parameters.
        self.sampler_keys = tuple(sampler_keys)
        self.call_threshold = call_threshold
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    # -- prompt -------------------------------------------------------------------------------

    def count_tokens(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = (),
                     tool_choice: Any = "none") -> int:
        plain = plain_messages(messages, list(tools), tool_choice)
        return sum(math.ceil(len(m["content"]) / _CHARS_PER_TOKEN) + _PER_MESSAGE
                   for m in plain) + 2

    def _messages(self, request: TurnRequest) -> list[dict[str, Any]]:
        if self.constrain == "tools":
            return openai_messages(request.messages)
        return plain_messages(request.messages, request.tools, request.tool_choice)

    # -- generation ---------------------------------------------------------------------------

    def generate(self, request: TurnRequest, on_text: Callable[[str], None],
                 should_stop: Callable[[], bool]) -> TurnResult:
        calling = bool(request.tools) and request.tool_choice != "none"
        json_reply = request.json_object or request.json_schema is not None
        body = self._body(request)
        if self.constrain == "tools":
            if request.tools:  # sent with tool_choice "none" too: the rounds refer to them
                body["tools"] = [{"type": "function", "function": t} for t in request.tools]
                choice = request.tool_choice
                body["tool_choice"] = (
                    {"type": "function", "function": {"name": choice["name"]}}
                    if isinstance(choice, dict) else choice)
                body["parallel_tool_calls"] = request.parallel_tool_calls
            self._constrain(body, request)
            return self._stream(body, request, on_text, should_stop, gate=False)
        if calling and not json_reply and request.tool_choice == "auto":
            if self.call_threshold is not None and self._decides_to_call(body):
                return self._forced_call(request, should_stop)
            result = self._stream(body, request, on_text, should_stop, gate=True)
            if result.tool_calls is not _STARTED_CALL:
                return result
            # The reply opened a call: ask for it again, constrained to a well-formed one.
            forced = self._forced_call(request, should_stop)
            return TurnResult(
                text="", prompt_tokens=forced.prompt_tokens,
                completion_tokens=result.completion_tokens + forced.completion_tokens,
                finish_reason=forced.finish_reason, tool_calls=forced.tool_calls)
        if calling and not json_reply:
            return self._forced_call(request, should_stop)
        self._constrain(body, request)
        return self._stream(body, request, on_text, should_stop, gate=False)

    def _body(self, request: TurnRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model, "messages": self._messages(request), "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 1.0 if request.temperature is None else float(request.temperature),
            "top_p": 1.0 if request.top_p is None else float(request.top_p),
        }
        if request.max_tokens and request.max_tokens > 0:
            body["max_tokens"] = request.max_tokens
        extra = request.extra or {}
        for key in self.sampler_keys:
            if key in extra:
                body[key] = extra[key]
        if isinstance(extra.get("seed"), int):
            body["seed"] = extra["seed"]
        controls = request.controls
        stops = list(controls.stop)
        if self.constrain != "tools" and (request.tools or any(
                m["role"] == "tool" for m in request.messages)):
            stops += _STOPS
        if stops:
            body["stop"] = stops
        # Chat Completions' controls pass through (log probabilities are not asked for).
        if controls.frequency_penalty:
            body["frequency_penalty"] = controls.frequency_penalty
        if controls.presence_penalty:
            body["presence_penalty"] = controls.presence_penalty
        if controls.logit_bias:
            body["logit_bias"] = {str(k): v for k, v in controls.logit_bias.items()}
        return body

    def _decides_to_call(self, body: dict[str, Any]) -> bool:
        """tool_choice "auto": whether the probability that the reply opens a call reaches
        `call_threshold`. A server that sends no logprobs leaves it to the reply."""
        probe = dict(body, stream=False, max_tokens=1, temperature=0.0, logprobs=True,
                     top_logprobs=_TOP_LOGPROBS)
        probe.pop("stream_options", None)
        try:
            response = self._http.post("/chat/completions", json=probe)
        except Exception as exc:
            raise self._wrap(exc) from None
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            first = response.json()["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            p = sum(math.exp(c["logprob"]) for c in first
                    if str(c.get("token", "")).lstrip().startswith("<"))
        except (ValueError, KeyError, IndexError, TypeError):
            return False
        assert self.call_threshold is not None
        return p >= self.call_threshold

    def _constrain(self, body: dict[str, Any], request: TurnRequest,
                   schema: dict[str, Any] | None = None) -> None:
        """Constrains the reply to `schema`, or to the request's response format."""
        if schema is None and request.json_schema is None and not request.json_object:
            return
        schema = schema if schema is not None else request.json_schema
        if self.constrain == "grammar":
            budget = quantize_budget(request.max_tokens or self.n_ctx)
            body["grammar"] = (json_schema_gbnf(schema, budget) if schema is not None
                               else json_object_gbnf(budget))
        elif schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "reply", "schema": schema}}
        else:
            body["response_format"] = {"type": "json_object"}

    def _forced_call(self, request: TurnRequest, should_stop: Callable[[], bool]) -> TurnResult:
        tools = request.tools
        choice = request.tool_choice
        if isinstance(choice, dict):
            tools = [t for t in tools if t["name"] == choice["name"]] or tools
        shapes = [{"type": "object", "properties": {
            "name": {"const": t["name"]},
            # Every declared property, as on the in-process model (json_grammar.all_declared).
            "arguments": all_declared(t.get("parameters") or {"type": "object"})},
            "required": ["name", "arguments"], "additionalProperties": False} for t in tools]
        schema = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
        body = self._body(request)
        self._constrain(body, request, schema)
        result = self._stream(body, request, lambda _piece: None, should_stop, gate=False)
        if result.finish_reason == "cancelled":
            return result
        try:
            call = json.loads(result.text)
            name, arguments = call["name"], call["arguments"]
        except (ValueError, KeyError, TypeError):
            raise RemoteModelError(
                f"The inference server {self.base_url} answered a call that is not the JSON "
                f"asked for (is `constrain` right for this server?): {result.text[:200]!r}"
            ) from None
        if name not in {t["name"] for t in tools}:
            raise RemoteModelError(
                f"The inference server {self.base_url} called '{name}', which was not offered "
                "(is `constrain` right for this server?)")
        return TurnResult(text="", prompt_tokens=result.prompt_tokens,
                          completion_tokens=result.completion_tokens,
                          finish_reason=result.finish_reason,
                          tool_calls=[{"name": name, "arguments": json.dumps(arguments)}])

    def _stream(self, body: dict[str, Any], request: TurnRequest, on_text: Callable[[str], None],
                should_stop: Callable[[], bool], gate: bool) -> TurnResult:
        """One streamed completion. `gate`: hold back text that may open a call; if it does,
        stop and return tool_calls=_STARTED_CALL."""
        stream = self._chunks(body, should_stop)
        with closing(stream):  # a return mid-stream closes the response at once
            return self._read(stream, request, on_text, gate)

    def _read(self, stream: Iterator[dict[str, Any] | None], request: TurnRequest,
              on_text: Callable[[str], None], gate: bool) -> TurnResult:
        text, held = "", ""
        undecided = gate
        chunks = 0
        usage: dict[str, Any] | None = None
        finish: FinishReason = "stop"
        calls: dict[int, dict[str, str]] = {}
        offered = {t["name"] for t in request.tools}
        for chunk in stream:
            if chunk is None:
                finish = "cancelled"
                break
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                piece = delta.get("content") or ""
                if piece or delta.get("tool_calls"):
                    chunks += 1
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(int(tc.get("index", 0)), {"name": "", "arguments": ""})
                    fn = tc.get("function") or {}
                    slot["name"] = _call_name(slot["name"], fn.get("name") or "", offered)
                    slot["arguments"] += fn.get("arguments") or ""
                if piece:
                    text += piece
                    if undecided:
                        held += piece
                        verdict = _opens_call(held)
                        if verdict is True:
                            return TurnResult(text="", prompt_tokens=0, completion_tokens=chunks,
                                              finish_reason="stop", tool_calls=_STARTED_CALL)
                        if verdict is False:
                            undecided = False
                            on_text(held)
                    else:
                        on_text(piece)
                if choice.get("finish_reason") == "length":
                    finish = "length"
        if undecided and held:
            on_text(held)
        prompt_tokens = completion_tokens = None
        if usage:
            prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get(
                "completion_tokens")
        if not isinstance(prompt_tokens, int):
            prompt_tokens = self.count_tokens(request.messages, request.tools, request.tool_choice)
        if not isinstance(completion_tokens, int):
            completion_tokens = chunks
        tool_calls = [self._checked(c) for _, c in sorted(calls.items())]
        if tool_calls and not request.parallel_tool_calls:
            tool_calls = tool_calls[:1]
        return TurnResult(text=text, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, finish_reason=finish,
                          tool_calls=tool_calls)

    def _checked(self, call: dict[str, str]) -> dict[str, str]:
        args = call["arguments"] or "{}"
        try:
            json.loads(args)
        except ValueError:
            raise RemoteModelError(
                f"The inference server {self.base_url} sent a call to '{call['name']}' whose "
                f"arguments are not JSON: {args[:200]!r}") from None
        return {"name": call["name"], "arguments": args}

    def _chunks(self, body: dict[str, Any], should_stop: Callable[[], bool]
                ) -> Generator[dict[str, Any] | None, None, None]:
        """The stream's chunks, parsed; None once `should_stop` says so (the stream is then
        closed). Raises RemoteModelError."""
        lines: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop_reading = threading.Event()
        holder: dict[str, httpx.Response] = {}

        def read() -> None:
            try:
                with self._http.stream("POST", "/chat/completions", json=body) as response:
                    holder["response"] = response
                    if response.status_code >= 400:
                        response.read()
                        lines.put(("error", self._status_error(response)))
                        return
                    for line in response.iter_lines():
                        if stop_reading.is_set():
                            return
                        lines.put(("line", line))
                lines.put(("end", None))
            except Exception as exc:  # handed to the turn's thread, which raises it
                lines.put(("error", exc))

        reader = threading.Thread(target=read, name=f"airlock-remote-{self.name}", daemon=True)
        reader.start()
        try:
            while True:
                try:
                    kind, value = lines.get(timeout=POLL_S)
                except queue.Empty:
                    if should_stop():
                        yield None
                        return
                    continue
                if kind == "end":
                    return
                if kind == "error":
                    raise self._wrap(value)
                line = value.strip()
                if not line.startswith("data:"):
                    continue  # SSE comments, event names, blank separators
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise RemoteModelError(
                        f"The inference server {self.base_url} sent a malformed stream: "
                        f"{data[:200]!r}") from None
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise RemoteModelError(
                        f"The inference server {self.base_url} failed mid-reply: "
                        f"{_message(chunk['error'])}")
                yield chunk
                if should_stop():
                    yield None
                    return
        finally:
            stop_reading.set()
            response = holder.get("response")
            if response is not None:
                try:
                    response.close()  # ends generation on servers that watch for disconnects
                except Exception:  # the reader thread may be closing it too
                    pass

    def _status_error(self, response: httpx.Response) -> RemoteModelError:
        try:
            detail = _message(response.json().get("error") or response.json())
        except ValueError:
            detail = response.text[:300]
        return RemoteModelError(
            f"The inference server {self.base_url} answered {response.status_code} for model "
            f"'{self.model}': {detail[:300]}")

    def _wrap(self, exc: Exception) -> Exception:
        if isinstance(exc, RemoteModelError):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            return RemoteModelError(
                f"The inference server {self.base_url} timed out (no answer within "
                f"{self.timeout:g} s)")
        if isinstance(exc, httpx.TransportError):
            return RemoteModelError(
                f"The inference server {self.base_url} could not be reached: "
                f"{type(exc).__name__}: {exc}")
        return RemoteModelError(f"The inference server {self.base_url} failed: {exc!r}")

    def close(self) -> None:
        self._http.close()


# A marker result of a gated stream: the reply opened a call.
_STARTED_CALL = [{"name": "", "arguments": ""}]


def _opens_call(text: str) -> bool | None:
    """Whether a reply starting with `text` is a call: True, False, or None (cannot tell yet)."""
    squeezed = "".join(text.split())
    if not squeezed:
        return None
    if any(squeezed.startswith(o) for o in _CALL_OPENERS):
        return True
    if any(o.startswith(squeezed) for o in _CALL_OPENERS):
        return None
    return False


def _call_name(so_far: str, piece: str, offered: set[str]) -> str:
    """A streamed call's name with `piece` added. Some servers (llama-cpp-python's) repeat the
    whole name in every chunk where OpenAI sends it once: once the name is an offered one that
    the piece cannot extend, the piece is that repetition."""
    longer = so_far + piece
    if so_far in offered and not any(name.startswith(longer) for name in offered):
        return so_far
    return longer


def _message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or error)
    return str(error)


def openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A turn's messages in the chat-completions wire shape (tool rounds included), for servers
    that render tools with their own templates."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            # "" rather than null: some servers (llama-cpp-python's) refuse a null content.
            out.append({"role": "assistant", "content": m.get("content") or "", "tool_calls": [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in m["tool_calls"]]})
        elif m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m.get("tool_call_id") or "",
                        "content": m.get("content") or ""})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    return out
