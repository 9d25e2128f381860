"""A response's stream as OpenAI orders it (docs/wire/responses.md, "Streaming"): numbered
events from 0, items opened (`output_item.added`) before their deltas and closed
(`output_item.done`) before the terminal `response.completed|incomplete|failed`, each item at a
fixed `output_index` with its own id. openai-node's ResponseStream throws on any departure.

Items are numbered in the order they start, which is their order in the final `output`: the
built-in calls the turn ran (each streamed as it runs), then the message, then any function
calls (streamed whole at the end).

A streamed response builds its events as it goes; a background one's are stored as they are
made (engine.response_state), and whoever writes the next ones (the worker, a cancel, the
replica that ends a lapsed response) rebuilds this state from the stored log first.
"""

from __future__ import annotations

from typing import Any

TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete",
            "failed": "response.failed", "cancelled": "response.failed"}
# A built-in call's events while it runs: (after output_item.added, when it ends).
PHASES = {"file_search_call": (("in_progress", "searching"), ("completed",)),
          "code_interpreter_call": (("in_progress",), ("interpreting", "completed"))}

Event = dict[str, Any]


class ResponseEvents:
    def __init__(self) -> None:
        self.seq = 0
        self.indices: dict[str, int] = {}  # item id -> its output_index, once opened
        self.message_id: str | None = None  # the message whose text is streaming
        self.streamed = ""
        self.annotations = 0  # annotations the message's text has had

    def _event(self, kind: str, **fields: Any) -> Event:
        out = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return out

    @classmethod
    def restore(cls, log: list[Event]) -> ResponseEvents:
        """The state after the events of `log` (a background response's, in order)."""
        state = cls()
        state.seq = len(log)
        for event in log:
            kind = event["type"]
            if kind == "response.output_item.added":
                item = event["item"]
                state.indices[item["id"]] = event["output_index"]
                if item["type"] == "message":
                    state.message_id = item["id"]
            elif kind == "response.output_text.delta":
                state.streamed += event["delta"]
            elif kind == "response.output_text.annotation.added":
                state.annotations += 1
        return state

    def start(self, response: dict[str, Any]) -> list[Event]:
        """A background response starts queued: created, then queued; the worker that claims
        it sends in_progress (`begin`)."""
        second = "response.queued" if response["status"] == "queued" else "response.in_progress"
        return [self._event("response.created", response=response),
                self._event(second, response=response)]

    def begin(self, response: dict[str, Any]) -> list[Event]:
        return [self._event("response.in_progress", response=response)]

    def text(self, message_id: str, delta: str,
             annotations: list[dict[str, Any]] | None = None) -> list[Event]:
        """A piece of the message's text, and the annotations placed in it."""
        out = [] if self.message_id else self._open_message(message_id)
        index = self.indices[message_id]
        self.streamed += delta
        if delta:
            out.append(self._event("response.output_text.delta", item_id=message_id,
                                   output_index=index, content_index=0, delta=delta,
                                   logprobs=[]))
        for annotation in annotations or []:
            out.append(self._event("response.output_text.annotation.added", item_id=message_id,
                                   output_index=index, content_index=0,
                                   annotation_index=self.annotations, annotation=annotation))
            self.annotations += 1
        return out

    def builtin_started(self, item: dict[str, Any]) -> list[Event]:
        """A built-in call begins: its item opens, in progress."""
        index = self._open(item["id"])
        kind = item["type"]
        out = [self._event("response.output_item.added", output_index=index, item=item)]
        for phase in PHASES[kind][0]:
            out.append(self._event(f"response.{kind}.{phase}", item_id=item["id"],
                                   output_index=index))
        return out

    def code(self, item_id: str, code: str) -> list[Event]:
        """The program a code_interpreter call is about to run."""
        index = self.indices[item_id]
        return [self._event("response.code_interpreter_call_code.delta", item_id=item_id,
                            output_index=index, delta=code),
                self._event("response.code_interpreter_call_code.done", item_id=item_id,
                            output_index=index, code=code)]

    def builtin_done(self, item: dict[str, Any]) -> list[Event]:
        """A built-in call ended: its item closes as it now is."""
        index = self.indices[item["id"]]
        kind = item["type"]
        out = [self._event(f"response.{kind}.{phase}", item_id=item["id"], output_index=index)
               for phase in PHASES[kind][1]]
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        return out

    def finish(self, response: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        output: list[dict[str, Any]] = response["output"]
        if self.message_id and not any(i["id"] == self.message_id for i in output):
            # The turn failed after text began: the message closes, incomplete, and keeps its
            # index (no other item may take it).
            out += self._close_message({"id": self.message_id, "type": "message",
                                        "role": "assistant", "status": "incomplete",
                                        "content": [_text_part(self.streamed)]})
        for item in output:
            if item["id"] in self.indices and item["type"] != "message":
                continue  # a built-in call: streamed and closed as it ran
            if item["type"] == "message":
                if self.message_id != item["id"]:
                    out += self._open_message(item["id"])
                out += self._close_message(item)
            elif item["type"] == "function_call":
                out += self._call(item, "arguments", "response.function_call_arguments")
            elif item["type"] == "custom_tool_call":
                out += self._call(item, "input", "response.custom_tool_call_input")
        out.append(self._event(TERMINAL[response["status"]], response=response))
        return out

    def _open(self, item_id: str) -> int:
        index = self.indices[item_id] = len(self.indices)
        return index

    def _open_message(self, message_id: str) -> list[Event]:
        self.message_id = message_id
        index = self._open(message_id)
        item = {"id": message_id, "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        return [self._event("response.output_item.added", output_index=index, item=item),
                self._event("response.content_part.added", item_id=message_id,
                            output_index=index, content_index=0, part=_text_part(""))]

    def _close_message(self, item: dict[str, Any]) -> list[Event]:
        part = item["content"][0]
        index = self.indices[item["id"]]
        return [
            self._event("response.output_text.done", item_id=item["id"], output_index=index,
                        content_index=0, text=part["text"], logprobs=part.get("logprobs", [])),
            self._event("response.content_part.done", item_id=item["id"], output_index=index,
                        content_index=0, part=part),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _call(self, item: dict[str, Any], field: str, kind: str) -> list[Event]:
        index = self._open(item["id"])
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
