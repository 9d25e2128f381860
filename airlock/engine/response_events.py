"""A response's stream as OpenAI orders it (docs/wire/responses.md, "Streaming"): numbered
events from 0, items opened (`output_item.added`) before their deltas and closed
(`output_item.done`) before the terminal `response.completed|incomplete|failed`, each item at a
fixed `output_index` with its own id. openai-node's ResponseStream throws on any departure.

A streamed response builds its events as it goes; a background one's are stored as they are
made (engine.response_state), and whoever writes the next ones (the worker, a cancel, the
replica that ends a lapsed response) rebuilds this state from the stored log first.
"""

from __future__ import annotations

from typing import Any

TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete",
            "failed": "response.failed", "cancelled": "response.failed"}


class ResponseEvents:
    def __init__(self) -> None:
        self.seq = 0
        self.message_id: str | None = None  # the message whose text is streaming
        self.streamed = ""

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        out = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return out

    @classmethod
    def restore(cls, log: list[dict[str, Any]]) -> ResponseEvents:
        """The state after the events of `log` (a background response's, in order)."""
        state = cls()
        state.seq = len(log)
        for event in log:
            if event["type"] == "response.output_item.added" and \
                    event["item"]["type"] == "message":
                state.message_id = event["item"]["id"]
            elif event["type"] == "response.output_text.delta":
                state.streamed += event["delta"]
        return state

    def start(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        """A background response starts queued: created, then queued; the worker that claims
        it sends in_progress (`begin`)."""
        second = "response.queued" if response["status"] == "queued" else "response.in_progress"
        return [self._event("response.created", response=response),
                self._event(second, response=response)]

    def begin(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._event("response.in_progress", response=response)]

    def text(self, message_id: str, delta: str) -> list[dict[str, Any]]:
        out = [] if self.message_id else self._open_message(message_id)
        self.streamed += delta
        out.append(self._event("response.output_text.delta", item_id=message_id,
                               output_index=0, content_index=0, delta=delta, logprobs=[]))
        return out

    def finish(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        output: list[dict[str, Any]] = response["output"]
        first = 0
        if self.message_id and not any(i["id"] == self.message_id for i in output):
            # The turn failed after text began: the message closes, incomplete, and keeps its
            # index (no other item may take it).
            out += self._close_message({"id": self.message_id, "type": "message",
                                        "role": "assistant", "status": "incomplete",
                                        "content": [_text_part(self.streamed)]}, 0)
            first = 1
        for index, item in enumerate(output, start=first):
            if item["type"] == "message":
                if self.message_id != item["id"]:
                    out += self._open_message(item["id"])
                out += self._close_message(item, index)
            elif item["type"] == "function_call":
                out += self._call(item, index, "arguments",
                                  "response.function_call_arguments")
            elif item["type"] == "custom_tool_call":
                out += self._call(item, index, "input", "response.custom_tool_call_input")
        out.append(self._event(TERMINAL[response["status"]], response=response))
        return out

    def _open_message(self, message_id: str) -> list[dict[str, Any]]:
        self.message_id = message_id
        item = {"id": message_id, "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        return [self._event("response.output_item.added", output_index=0, item=item),
                self._event("response.content_part.added", item_id=message_id, output_index=0,
                            content_index=0, part=_text_part(""))]

    def _close_message(self, item: dict[str, Any], index: int) -> list[dict[str, Any]]:
        part = item["content"][0]
        return [
            self._event("response.output_text.done", item_id=item["id"], output_index=index,
                        content_index=0, text=part["text"], logprobs=part.get("logprobs", [])),
            self._event("response.content_part.done", item_id=item["id"], output_index=index,
                        content_index=0, part=part),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _call(self, item: dict[str, Any], index: int, field: str, kind: str
              ) -> list[dict[str, Any]]:
        opened = {**item, field: "", "status": "in_progress"}
        done = {"arguments": item[field], "name": item["name"]} if field == "arguments" \
            else {"input": item[field]}
        return [self._event("response.output_item.added", output_index=index, item=opened),
                self._event(f"{kind}.delta", item_id=item["id"], output_index=index,
                            delta=item[field]),
                self._event(f"{kind}.done", item_id=item["id"], output_index=index, **done),
                self._event("response.output_item.done", output_index=index, item=item)]


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
