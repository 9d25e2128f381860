"""The turn core in process (engine/core/turn.py), driven by the scripted model: what an adapter
is told while a turn happens, and how the turn ends.

The built-in tools run on small stand-ins for the search index and the kernel pool (the real
ones are tested end to end through the API): what is checked here is the core's part, what it
asks of them and what it makes of their results.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airlock.engine.core.builtins import Builtins, Toolbox
from airlock.engine.core.items import (
    BuiltinCall,
    CodeInterpreter,
    FileSearch,
    Function,
    FunctionCall,
    FunctionOutput,
    Message,
    OutputFormat,
    TurnSpec,
)
from airlock.engine.core.sink import CodeDone, SearchDone
from airlock.engine.core.turn import TurnCore
from airlock.engine.search import Result
from airlock.models.scripted import ScriptedBackend
from airlock.tools.code_interpreter.output import Execution

WEATHER = Function("weather", "Weather in a city.",
                   {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]})


class RecordingSink:
    """Everything the core told the adapter, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.deltas: list[str] = []

    def text(self, delta, annotations):
        self.deltas.append(delta)
        self.events.append(("text", (delta, annotations)))

    def builtin_started(self, call_id, name, usage):
        self.events.append(("started", name))

    def code_started(self, call_id, code):
        self.events.append(("code", code))

    def keep_outputs(self, call_id, images, files):
        self.events.append(("keep", (len(images), [f.name for f in files])))
        return [f"file-img{i}" for i in range(len(images))], {
            "/mnt/data/" + f.name: f"file-{f.name}" for f in files}

    def builtin_finished(self, call, done):
        self.events.append(("finished", done))

    def builtin_failed(self, call_id, name, code):
        self.events.append(("failed", code))

    def names(self) -> list[str]:
        return [e[0] for e in self.events if e[0] != "text"]


@dataclass
class FakeSearch:
    results: list[Result]
    asked: list[Any] = field(default_factory=list)

    def search(self, stores, query, *, k, threshold=0.0, flt=None, mode="hybrid"):
        self.asked.append(query)
        return self.results[:k]


class FakeIngestor:
    def wait_ready(self, stores, timeout):
        return True


@dataclass
class FakePool:
    execution: Execution
    ran: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, bytes] | None = None  # the kernels' /mnt/data; None: any name opens

    def execute(self, kernel, code):
        self.ran.append((kernel, code))
        return self.execution

    def open_file(self, kernel, name):
        if self.files is None:
            return io.BytesIO(b"a,b\n1,2\n")
        if name not in self.files:
            raise FileNotFoundError(name)
        return io.BytesIO(self.files[name])

    def write_file(self, kernel, name, data):
        pass


class FakeSandbox:
    refusal = None

    def __init__(self, execution: Execution):
        self.pool = FakePool(execution)
        self.placed: dict[str, dict[str, str]] = {}

    def workdir(self, kernel):
        return Path("/nonexistent")


class NoStore:
    is_shared = False


def core(replies: list[dict[str, Any]], *, search: FakeSearch | None = None,
         execution: Execution | None = None, stop: threading.Event | None = None
         ) -> tuple[TurnCore, RecordingSink]:
    queue = list(replies)
    backend = ScriptedBackend(lambda _thread: queue.pop(0) if queue else None)
    box = Toolbox(search=search or FakeSearch([]), ingestor=FakeIngestor(),  # type: ignore[arg-type]
                  sandbox=FakeSandbox(execution or Execution(logs="")),  # type: ignore[arg-type]
                  files_dir=Path("/nonexistent"))
    sink = RecordingSink()
    stopping = stop or threading.Event()
    return TurnCore(backend, Builtins(NoStore(), box), sink,  # type: ignore[arg-type]
                    stopping.is_set), sink


def spec(**kw: Any) -> TurnSpec:
    return TurnSpec(instructions="Be brief.", items=[Message("user", "Hello")], **kw)


def test_a_text_answer_streams_and_completes():
    turn, sink = core([{"text": "Hi there. How can I help?"}])
    out = turn.run(spec())
    assert out.ending == "completed" and out.text == "Hi there. How can I help?"
    assert "".join(sink.deltas) == out.text and len(sink.deltas) > 1  # streamed, not at once
    assert out.usage.completion_tokens > 0 and out.last == out.usage


def test_a_function_call_ends_the_turn_with_the_call():
    turn, sink = core([{"tool_calls": [{"type": "function", "function": {
        "name": "weather", "arguments": {"city": "Oslo"}}}]}])
    out = turn.run(spec(functions=[WEATHER]))
    assert out.ending == "calls" and not sink.deltas
    [call] = out.calls
    assert (call.name, call.arguments) == ("weather", '{"city": "Oslo"}')
    assert call.call_id.startswith("call_")


def test_a_call_already_answered_is_not_made_again_the_model_answers():
    items = [Message("user", "Weather in Oslo?"), FunctionCall("call_1", "weather", '{"city":"Oslo"}'),
             FunctionOutput("call_1", "cold")]
    turn, _ = core([{"tool_calls": [{"type": "function", "function": {
        "name": "weather", "arguments": {"city": "Oslo"}}}]}, {"text": "It is cold."}])
    out = turn.run(TurnSpec(instructions="", items=items, functions=[WEATHER]))
    assert out.ending == "completed" and out.text == "It is cold."


def test_a_file_search_round_then_a_cited_answer():
    found = [Result("vs_1", "file-a", "a.txt", 0.9, "Llamas hum when they are content.", None)]
    search = FakeSearch(found)
    turn, sink = core([{"tool_calls": [{"type": "file_search", "file_search": {"query": "llama"}}]},
                       {"text": "Llamas hum when content【0:0†a.txt】."}], search=search)
    out = turn.run(TurnSpec(instructions="", items=[Message("user", "Do llamas hum?")],
                            file_search=FileSearch(("vs_1",))))
    assert sink.names() == ["started", "finished"]
    done = sink.events[1][1]
    assert isinstance(done, SearchDone) and [h.file_id for h in done.hits] == ["file-a"]
    # The model's query and the user's message are both searched, fused.
    assert search.asked == [["llama", "Do llamas hum?"]]
    assert out.ending == "completed"
    [a] = out.annotations
    assert (a.kind, a.file_id) == ("file_citation", "file-a")
    assert out.text[a.start:a.end] == "【0:0†a.txt】"


def test_a_code_round_runs_the_program_keeps_its_outputs_and_answers():
    ran = Execution(logs="4\n", images=[b"\x89PNG"], files=["out.csv"])
    turn, sink = core([{"tool_calls": [{"type": "code_interpreter",
                                        "code_interpreter": {"input": "print(2 + 2)"}}]},
                       {"text": "The answer is 4, in sandbox:/mnt/data/out.csv ."}], execution=ran)
    out = turn.run(TurnSpec(instructions="", items=[Message("user", "2+2?")],
                            code_interpreter=CodeInterpreter("thread_1")))
    assert sink.names() == ["started", "code", "keep", "finished"]
    assert sink.events[1][1] == "print(2 + 2)"
    assert sink.events[2][1] == (1, ["out.csv"])
    done = sink.events[3][1]
    assert isinstance(done, CodeDone) and done.logs == "4\n" and done.images == ["file-img0"]
    # The sandbox link to the file the code wrote is annotated with the file's id.
    [link] = out.annotations
    assert (link.kind, link.file_id) == ("file_path", "file-out.csv")
    assert out.ending == "completed"


def test_what_the_model_reads_back_from_code_is_in_the_next_call():
    ran = Execution(logs="42\n")
    seen: list[list[dict[str, Any]]] = []
    turn, _ = core([], execution=ran)
    replies = [{"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": "6*7"}}]},
               {"text": "42."}]
    turn.backend = ScriptedBackend(lambda _t: replies.pop(0))
    generate = turn.backend.generate

    def spy(request, on_text, should_stop):
        seen.append(request.messages)
        return generate(request, on_text, should_stop)

    turn.backend.generate = spy  # type: ignore[method-assign]
    turn.run(TurnSpec(instructions="", items=[Message("user", "6*7?")],
                      code_interpreter=CodeInterpreter("thread_1")))
    assert seen[1][-1]["role"] == "tool" and seen[1][-1]["content"].startswith("42")


def test_the_loop_guard_drops_repeats_and_ends_the_reply():
    turn, sink = core([{"text": "Thank you so much for asking. " * 5}])
    out = turn.run(spec())
    assert out.ending == "completed"
    assert out.text.strip() == "Thank you so much for asking."
    assert "".join(sink.deltas) == out.text


def test_cancel_mid_turn_ends_it_cancelled_with_what_streamed():
    stop = threading.Event()
    turn, sink = core([{"text": "one two three four five six seven", "delay_ms": 30}], stop=stop)
    original = sink.text

    def stop_after_two(delta, annotations):
        original(delta, annotations)
        if len(sink.deltas) == 2:
            stop.set()

    sink.text = stop_after_two  # type: ignore[method-assign]
    out = turn.run(spec())
    assert out.ending == "cancelled"
    assert out.text == "".join(sink.deltas) and out.text.split() == ["one", "two"]


def test_json_output_that_breaks_its_schema_fails():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    turn, _ = core([{"text": '{"n": "x"}'}])
    out = turn.run(spec(output_format=OutputFormat(json_schema=schema)))
    assert out.ending == "failed" and "does not match the schema" in (out.error or "")


def test_a_prompt_that_cannot_fit_says_how_long_it_is():
    turn, _ = core([{"text": "never"}])
    out = turn.run(TurnSpec(instructions="", items=[Message("user", "word " * 500)],
                            max_prompt_tokens=50))
    assert out.ending == "too_long" and out.tokens > out.budget == 50


@pytest.mark.parametrize("used, searched", [(0, ["started", "finished"]), (1, [])])
def test_a_builtin_already_used_in_the_exchange_is_not_offered_again(used, searched):
    items = [Message("user", "Search it.")] + [BuiltinCall(call_id=f"c{i}", name="file_search")
                                               for i in range(used)]
    turn, sink = core([{"tool_calls": [{"type": "file_search", "file_search": {"query": "x"}}]},
                       {"text": "Done."}])
    out = turn.run(TurnSpec(instructions="", items=items, file_search=FileSearch(("vs",))))
    # One search per exchange: the second time nothing is offered (tool_choice none), and the
    # scripted model's call is not made.
    assert sink.names() == searched and out.ending == "completed"
