"""Chat Completions objects and stream chunks, in the shapes openai-python's types declare."""

from __future__ import annotations

from typing import Any

from airlock.service.chat_commands import ChatChoice, ChatResult, FunctionCall


def usage(result: ChatResult) -> dict[str, Any]:
    u = result.usage
    return {
        "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.prompt_token_details.cached_tokens,
                                  "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def logprobs(choice: ChatChoice) -> dict[str, Any] | None:
    if choice.logprobs is None:
        return None
    return {"content": [
        {"token": t.token, "logprob": t.logprob, "bytes": t.bytes,
         "top_logprobs": [{"token": a, "logprob": lp, "bytes": b} for a, b, lp in t.top]}
        for t in choice.logprobs], "refusal": None}


def _calls(calls: list[FunctionCall]) -> list[dict[str, Any]]:
    return [{"id": c.call_id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def completion(result: ChatResult) -> dict[str, Any]:
    choices = []
    for c in result.choices:
        message: dict[str, Any] = {"role": "assistant",
                                   "content": None if c.tool_calls else c.text,
                                   "refusal": None, "annotations": []}
        if c.tool_calls:
            message["tool_calls"] = _calls(c.tool_calls)
        choices.append({"index": c.index, "message": message, "finish_reason": c.finish_reason,
                        "logprobs": logprobs(c)})
    return {"id": result.id, "object": "chat.completion", "created": result.created,
            "model": result.model, "choices": choices, "usage": usage(result),
            "service_tier": "default", "system_fingerprint": result.fingerprint}


class Chunks:
    """The chunks of one streamed completion: per choice a first chunk with the role, text
    deltas, the calls (each opened with its id and name, then its arguments), and a last chunk
    with the finish reason; with include_usage, every chunk has `usage: null` and a final one
    with no choices carries the usage."""

    def __init__(self, result: ChatResult, include_usage: bool):
        self.head = {"id": result.id, "object": "chat.completion.chunk",
                     "created": result.created, "model": result.model,
                     "service_tier": "default", "system_fingerprint": result.fingerprint}
        self.include_usage = include_usage
        self._opened: set[int] = set()

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None = None,
               lp: dict[str, Any] | None = None) -> dict[str, Any]:
        out = dict(self.head, choices=[{"index": index, "delta": delta, "logprobs": lp,
                                        "finish_reason": finish}])
        if self.include_usage:
            out["usage"] = None
        return out

    def _open(self, index: int) -> list[dict[str, Any]]:
        if index in self._opened:
            return []
        self._opened.add(index)
        return [self._chunk(index, {"role": "assistant", "content": "", "refusal": None})]

    def text(self, index: int, text: str) -> list[dict[str, Any]]:
        return [*self._open(index), self._chunk(index, {"content": text})]

    def end(self, choice: ChatChoice) -> list[dict[str, Any]]:
        out = self._open(choice.index)
        for k, call in enumerate(choice.tool_calls):
            out.append(self._chunk(choice.index, {"tool_calls": [
                {"index": k, "id": call.call_id, "type": "function",
                 "function": {"name": call.name, "arguments": ""}}]}))
            out.append(self._chunk(choice.index, {"tool_calls": [
                {"index": k, "function": {"arguments": call.arguments}}]}))
        out.append(self._chunk(choice.index, {}, choice.finish_reason, logprobs(choice)))
        return out

    def usage(self, result: ChatResult) -> list[dict[str, Any]]:
        if not self.include_usage:
            return []
        return [dict(self.head, choices=[], usage=usage(result))]
