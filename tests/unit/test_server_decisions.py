"""What the server decides for a real model (engine/core/decisions.py, grounding.py and their use
in the turn core): whether the first round searches or runs code, that code is a program, that
an answer after tools is never empty, that an answer over sources shows one it can cite. The
scripted model stands in for a real one here (`scripted = False`), its requests recorded; the
scripted model itself is left alone (its replies are a test's, verbatim).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from test_turn_core import FakeIngestor, FakeSandbox, FakeSearch, NoStore, RecordingSink

from airlock.engine.core import decisions
from airlock.engine.core.builtins import Builtins, Toolbox
from airlock.engine.core.items import (
    CodeInterpreter,
    FileSearch,
    Function,
    FunctionCall,
    FunctionOutput,
    InputFile,
    Message,
    TurnSpec,
)
from airlock.engine.core.turn import RETRY_TEMPERATURE, TurnCore
from airlock.engine.search import Result
from airlock.models.scripted import ScriptedBackend
from airlock.tools.code_interpreter.output import Execution

POLICY = Result("vs_1", "file-b", "benefits.txt", 0.9,
                "Benefits. Every employee gets 20 days of paid vacation per year. "
                "Unused days expire in March.", None)


class RealModel(ScriptedBackend):
    """The scripted model playing a real one: the server's decisions apply to it."""

    scripted = False

    def __init__(self, replies: list[dict[str, Any]]):
        self.requests: list[Any] = []
        queue = list(replies)
        super().__init__(lambda _thread: queue.pop(0) if queue else None)

    def generate(self, request, on_text, should_stop):
        self.requests.append(request)
        return super().generate(request, on_text, should_stop)


@dataclass
class NearSearch(FakeSearch):
    similarity: float = 0.0
    files: int = 1

    def nearest(self, stores, query):
        return (self.similarity if query else 0.0), self.files


def turn_core(backend: ScriptedBackend, search: FakeSearch | None = None,
              execution: Execution | None = None) -> tuple[TurnCore, RecordingSink, FakeSandbox]:
    sandbox = FakeSandbox(execution or Execution(logs="2147483648\n"))
    box = Toolbox(search=search or NearSearch([]), ingestor=FakeIngestor(),  # type: ignore[arg-type]
                  sandbox=sandbox, files_dir=None)  # type: ignore[arg-type]
    sink = RecordingSink()
    return TurnCore(backend, Builtins(NoStore(), box), sink,  # type: ignore[arg-type]
                    lambda: False), sink, sandbox


def ask(text: str, **kw: Any) -> TurnSpec:
    return TurnSpec(instructions="", items=[Message("user", text)], **kw)


def offered(request) -> list[str]:
    return [t["name"] for t in request.tools]


SEARCH_CALL = {"tool_calls": [{"type": "file_search", "file_search": {"query": "vacation"}}]}


def code_call(code: str) -> dict[str, Any]:
    return {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": code}}]}


# --- file_search --------------------------------------------------------------------------------

def test_a_question_close_to_the_files_searches_and_the_answer_cites_the_passage():
    model = RealModel([SEARCH_CALL, {"text": "You get a lot of vacation."}])
    search = NearSearch([POLICY], similarity=0.6)
    turn, sink, _ = turn_core(model, search)
    out = turn.run(ask("How many vacation days do I get?",
                       file_search=FileSearch(("vs_1",))))
    assert model.requests[0].tool_choice == {"name": "file_search"}
    # The model's answer cited nothing: the passage that answers is quoted after it, cited.
    assert out.text.startswith("You get a lot of vacation.\n\nFrom benefits.txt: ")
    assert "20 days of paid vacation" in out.text
    [a] = out.annotations
    assert (a.kind, a.file_id) == ("file_citation", "file-b")
    assert "".join(sink.deltas) == out.text


def test_chit_chat_is_answered_without_searching():
    model = RealModel([{"text": "Goodbye!"}])
    turn, sink, _ = turn_core(model, NearSearch([POLICY], similarity=0.05))
    out = turn.run(ask("Bye!", file_search=FileSearch(("vs_1",))))
    assert out.text == "Goodbye!" and not out.annotations
    assert offered(model.requests[0]) == [] and model.requests[0].tool_choice == "none"
    assert sink.names() == []


def test_no_searchable_file_means_file_search_is_not_offered_even_later():
    # The cookbook's quiz assistant: file_search and code_interpreter, no vector store.
    model = RealModel([code_call("print(2 ** 31)"), {"text": "It is 2147483648."}])
    turn, _, _ = turn_core(model, NearSearch([], similarity=0.9, files=0))
    out = turn.run(ask("What is 2 to the power of 31?", file_search=FileSearch(()),
                       code_interpreter=CodeInterpreter("thread_1")))
    assert out.text == "It is 2147483648."
    # Never file_search; and once the program printed its result, the model answers.
    assert [offered(r) for r in model.requests] == [["code_interpreter"], []]


# --- code_interpreter ---------------------------------------------------------------------------

def test_a_computation_runs_code_and_anything_else_is_answered_without():
    model = RealModel([code_call("print(2 ** 31)"), {"text": "2147483648."}])
    turn, _, sandbox = turn_core(model)
    turn.run(ask("What is 2 to the power of 31?", code_interpreter=CodeInterpreter("thread_1")))
    assert model.requests[0].tool_choice == {"name": "code_interpreter"}
    assert sandbox.pool.ran == [("thread_1", "print(2 ** 31)")]

    model = RealModel([{"text": "Math can be fun."}])
    turn, _, sandbox = turn_core(model)
    turn.run(ask("I don't like math.", code_interpreter=CodeInterpreter("thread_1")))
    assert offered(model.requests[0]) == [] and sandbox.pool.ran == []


def test_after_a_program_prints_the_result_the_model_answers_but_may_fix_an_error():
    model = RealModel([code_call("print(2 ** 31)"), {"text": "It is 2147483648."}])
    turn, _, _ = turn_core(model)
    turn.run(ask("What is 2 to the power of 31?", code_interpreter=CodeInterpreter("thread_1")))
    assert offered(model.requests[1]) == [] and model.requests[1].tool_choice == "none"

    failed = Execution(logs="Traceback (most recent call last):\nNameError: x", error=True)
    model = RealModel([code_call("print(x ** 31)"), {"text": "Oops."}])
    turn, _, _ = turn_core(model, execution=failed)
    turn.run(ask("What is 2 to the power of 31?", code_interpreter=CodeInterpreter("thread_1")))
    assert offered(model.requests[1]) == ["code_interpreter"]  # it may fix its program

    model = RealModel([code_call("print(x ** 31)"), code_call("print(y ** 31)"),
                       {"text": "I could not."}])
    turn, _, sandbox = turn_core(model, execution=failed)
    out = turn.run(ask("What is 2 to the power of 31?",
                       code_interpreter=CodeInterpreter("thread_1")))
    assert len(sandbox.pool.ran) == 2 and offered(model.requests[2]) == []  # once, then answer
    assert out.text == "I could not."


def test_no_code_after_a_function_when_the_message_computes_nothing():
    # The cookbook's quiz: display_quiz answered, the model must not go on to run a program.
    quiz = Function("display_quiz", "Show a quiz.", {"type": "object", "properties": {}})
    items = [Message("user", "Test me with a quiz about the water cycle."),
             FunctionCall("call_1", "display_quiz", "{}"),
             FunctionOutput("call_1", "Answers: evaporation")]
    model = RealModel([{"text": "Well done."}])
    turn, _, sandbox = turn_core(model)
    turn.run(TurnSpec(instructions="", items=items, functions=[quiz],
                      code_interpreter=CodeInterpreter("thread_1")))
    assert offered(model.requests[0]) == ["display_quiz"] and sandbox.pool.ran == []


def test_with_files_to_work_on_the_model_decides_about_code():
    data = InputFile("file-1", "sales.csv", "/nowhere")
    model = RealModel([{"text": "Let me look."}])
    turn, _, _ = turn_core(model)
    turn.run(ask("Which region sells best?",
                 code_interpreter=CodeInterpreter("thread_1", (data,))))
    assert offered(model.requests[0]) == ["code_interpreter"]
    assert model.requests[0].tool_choice == "auto"


def test_markup_after_the_program_is_cut_before_it_runs():
    model = RealModel([code_call('print(2 ** 31)\n"}}</tool_call>'), {"text": "2147483648."}])
    turn, _, sandbox = turn_core(model)
    turn.run(ask("What is 2 ** 31?", code_interpreter=CodeInterpreter("thread_1")))
    assert sandbox.pool.ran == [("thread_1", "print(2 ** 31)")]


def test_prose_is_never_run_the_model_answers_without_code():
    model = RealModel([code_call("No passages in the files matched the search."),
                       code_call("SyntaxError: invalid syntax"), code_call("17 times 3 is 51."),
                       {"text": "I could not compute it."}])
    turn, sink, sandbox = turn_core(model)
    out = turn.run(ask("Compute 17 * 3.", code_interpreter=CodeInterpreter("thread_1")))
    assert sandbox.pool.ran == [] and sink.names() == []
    # The program is written again, sampled (greedy decoding would write the same prose), and
    # the second sampled try has a seed of its own (the same seed would write the same).
    assert model.requests[0].call_temperature == 0.0
    assert [r.tool_choice for r in model.requests[1:3]] == [{"name": "code_interpreter"}] * 2
    assert [r.call_temperature for r in model.requests[1:3]] == [RETRY_TEMPERATURE] * 2
    assert "seed" not in model.requests[1].extra
    assert model.requests[2].extra["seed"] != model.requests[1].extra.get("seed")
    assert offered(model.requests[3]) == []  # three times not a program: no code for the turn
    assert out.ending == "completed" and out.text == "I could not compute it."


def test_a_program_written_again_after_prose_runs():
    model = RealModel([code_call("The answer is 51."), code_call("print(17 * 3)"),
                       {"text": "It is 51."}])
    turn, _, sandbox = turn_core(model, execution=Execution(logs="51\n"))
    out = turn.run(ask("Compute 17 * 3.", code_interpreter=CodeInterpreter("thread_1")))
    assert sandbox.pool.ran == [("thread_1", "print(17 * 3)")]
    assert out.text == "It is 51."


CLOCK = "import time\nprint(time.strftime('%H:%M:%S'))"


MADE_UP = "import pandas as pd\ndata = pd.read_csv('/mnt/data/shirt_data.csv')\nprint(data)"
SALE = "If a shirt costs $40 and is 15% off, what is the sale price?"


@pytest.mark.parametrize("question,rejected,program,logs", [
    ("How many seconds are there in a week?", CLOCK, "print(7 * 24 * 60 * 60)", "604800\n"),
    (SALE, MADE_UP, "print(40 * (1 - 0.15))", "34.0\n"),  # a file nobody attached
])
def test_a_program_reading_the_clock_or_a_missing_file_is_written_again(question, rejected,
                                                                        program, logs):
    model = RealModel([code_call(rejected), code_call(program), {"text": "Done."}])
    turn, _, sandbox = turn_core(model, execution=Execution(logs=logs))
    sandbox.pool.files = {}
    out = turn.run(ask(question, code_interpreter=CodeInterpreter("thread_1")))
    assert sandbox.pool.ran == [("thread_1", program)]
    assert model.requests[1].call_temperature == RETRY_TEMPERATURE  # greedy writes the same
    assert out.ending == "completed" and out.text.startswith("Done.")

    # Twice: the third program runs whatever it reads.
    model = RealModel([code_call(rejected)] * 3 + [{"text": "Done."}])
    turn, _, sandbox = turn_core(model, execution=Execution(logs=logs))
    sandbox.pool.files = {}
    turn.run(ask(question, code_interpreter=CodeInterpreter("thread_1")))
    assert sandbox.pool.ran == [("thread_1", rejected)]


def test_a_program_reading_a_file_the_run_has_runs(tmp_path):
    # The file is there: attached to the run, or in the kernel's /mnt/data from an earlier
    # program.
    attached = CodeInterpreter("thread_1", (InputFile("file-1", "shirt_data.csv", "blob"),))
    model = RealModel([code_call(MADE_UP), {"text": "Done."}])
    turn, _, sandbox = turn_core(model, execution=Execution(logs="price\n40\n"))
    sandbox.pool.files = {}
    assert turn.builtins is not None
    turn.builtins.box.files_dir = tmp_path
    (tmp_path / "blob").write_text("price\n40\n")
    turn.run(ask(SALE, code_interpreter=attached))
    assert sandbox.pool.ran[-1] == ("thread_1", MADE_UP)

    model = RealModel([code_call(MADE_UP), {"text": "Done."}])
    turn, _, sandbox = turn_core(model, execution=Execution(logs="price\n40\n"))
    sandbox.pool.files = {"shirt_data.csv": b"price\n40\n"}  # the kernel's /mnt/data
    turn.run(ask(SALE, code_interpreter=CodeInterpreter("thread_1")))
    assert sandbox.pool.ran[-1] == ("thread_1", MADE_UP)


@pytest.mark.parametrize("code,read", [
    (MADE_UP, ["/mnt/data/shirt_data.csv"]),
    ("import numpy as np\nx = np.loadtxt('values.txt')", ["values.txt"]),
    ("with open('/mnt/data/notes.txt') as f:\n    print(f.read())", ["/mnt/data/notes.txt"]),
    ("with open('/mnt/data/out.txt', 'w') as f:\n    f.write('x')", []),
    ("f = open('log.txt', mode='a')", []),
    ("import pandas as pd\npath = 'a.csv'\ndf = pd.read_csv(path)", []),  # not a literal
    ("print(2 ** 31)", []), ("print(", []),
])
def test_which_files_a_program_reads(code, read):
    assert decisions.files_read(code) == read


def test_only_files_in_mnt_data_can_be_missing():
    def has(name: str) -> bool:
        return name == "there.csv"

    def missing(code: str) -> str | None:
        return decisions.missing_file(code, has)

    assert missing("import pandas as pd\npd.read_csv('/mnt/data/there.csv')") is None
    assert missing("import pandas as pd\npd.read_csv('there.csv')") is None
    assert missing("import pandas as pd\npd.read_csv('gone.csv')") == "gone.csv"
    assert missing("import pandas as pd\npd.read_csv('/etc/hosts')") is None
    assert missing("import pandas as pd\npd.read_csv('https://example.com/a.csv')") is None


def test_a_question_about_the_present_may_read_the_clock():
    model = RealModel([code_call(CLOCK), {"text": "It is noon."}])
    turn, _, sandbox = turn_core(model, execution=Execution(logs="12:00:00\n"))
    turn.run(ask("What is the time now, in seconds since midnight divided by 60?",
                 code_interpreter=CodeInterpreter("thread_1")))
    assert model.requests[0].tool_choice == {"name": "code_interpreter"}  # a computation
    assert sandbox.pool.ran == [("thread_1", CLOCK)] and len(model.requests) == 2


@pytest.mark.parametrize("code,reads", [
    (CLOCK, True), ("from time import time\nprint(time())", True),
    ("import datetime\nprint(datetime.datetime.now().year)", True),
    ("from datetime import date\nprint(date.today())", True),
    ("from datetime import date\nprint((date(2026, 5, 15) - date(2026, 3, 1)).days)", False),
    ("print(7 * 24 * 60 * 60)", False), ("print(", False),
])
def test_which_programs_read_the_clock(code, reads):
    assert decisions.reads_clock(code) is reads


# --- empty answers ------------------------------------------------------------------------------

def test_an_empty_answer_after_code_is_sampled_again_then_built_from_the_output():
    model = RealModel([code_call("print(2 ** 31)"), {"text": ""}, {"text": "  "}])
    turn, sink, _ = turn_core(model)
    out = turn.run(ask("What is 2 to the power of 31?",
                       code_interpreter=CodeInterpreter("thread_1")))
    assert len(model.requests) == 3 and model.requests[2].temperature >= RETRY_TEMPERATURE
    assert out.ending == "completed" and "2147483648" in out.text
    assert "".join(sink.deltas) == out.text


def test_an_empty_answer_sampled_again_keeps_the_second_try():
    model = RealModel([code_call("print(2 ** 31)"), {"text": ""}, {"text": "It is 2147483648."}])
    turn, _, _ = turn_core(model)
    out = turn.run(ask("What is 2 to the power of 31?",
                       code_interpreter=CodeInterpreter("thread_1")))
    assert out.text == "It is 2147483648."


# --- the scripted model is verbatim -------------------------------------------------------------

def test_the_scripted_model_gets_no_decisions_and_no_quote():
    queue = [SEARCH_CALL, {"text": "You get a lot of vacation."}]
    model = ScriptedBackend(lambda _thread: queue.pop(0) if queue else None)
    turn, _, _ = turn_core(model, NearSearch([POLICY], similarity=0.01))
    out = turn.run(ask("Bye!", file_search=FileSearch(("vs_1",))))
    assert out.text == "You get a lot of vacation."


# --- the rules alone ----------------------------------------------------------------------------

@pytest.mark.parametrize("written, program", [
    ("print(2 ** 31)", "print(2 ** 31)"),
    ('print(2 ** 31)"}}</tool_call>', "print(2 ** 31)"),  # the call's JSON closing, then markup
    ("print(2 ** 31)\n}}</tool_call>", "print(2 ** 31)"),
    ("```python\nx = 3\nprint(x * 2)\n```", "x = 3\nprint(x * 2)"),
    ("import math\nprint(math.sqrt(2))\nThis prints the root.", "import math\nprint(math.sqrt(2))"),
    ("SyntaxError: invalid syntax", None),
    ("No passages in the files matched the search.", None),
    ('Traceback (most recent call last):\n  File "<stdin>", line 1\nNameError: x', None),
    ("Hello", None),
    ("# Your code here", None),
    ("NameError: name 'x' is not defined", None),
    # The equation restated before the program: not Python, dropped.
    ("3x + 11 = 14\n\nx = (14 - 11) / 3\nprint(x)", "x = (14 - 11) / 3\nprint(x)"),
    ("3x + 11 = 14\nprint(3x + 11)", None),
    ("2 ** 31", "2 ** 31"),
])
def test_what_counts_as_a_program(written, program):
    assert decisions.program(written) == program


@pytest.mark.parametrize("message, computes", [
    ("What is 2 to the power of 31?", True),
    ("Compute (17 + 25) * 3.", True),
    ("What is 17% of 2350?", True),
    ("Plot y = x^2 for x from -5 to 5.", True),
    ("How many seconds are there in a week?", True),
    # A question for a quantity, with numbers to compute it from.
    ("How many ways can I choose 3 books out of 10?", True),
    ("What's the hypotenuse of a right triangle with legs 9 and 12?", True),
    ("Convert 100 degrees Fahrenheit to Celsius.", True),
    ("I scored 90 on my exam yesterday!", False),
    ("My daughter is 8 and loves numbers. What games would you suggest?", False),
    ("What is a prime number?", False),
    ("I don't like math.", False),
    ("Thank you!", False),
    ("How many vacation days do I get?", False),
])
def test_what_counts_as_a_computation(message, computes):
    assert decisions.wants_code(message) is computes


def test_a_query_copied_from_the_tools_description_is_no_query():
    from airlock.engine.core.builtins import query_of
    assert query_of('{"query": "What to look for in the files."}', "vacation days") == \
        "vacation days"
    assert query_of('{"query": "vacation policy"}', "How many days?") == "vacation policy"


def test_an_answer_citing_another_source_still_gets_the_best_passage_quoted():
    other = Result("vs_1", "file-t", "travel.md", 0.5, "Trains: book them a week ahead.", None)
    model = RealModel([SEARCH_CALL, {"text": "Trains need a week【0:1†travel.md】."}])
    turn, _, _ = turn_core(model, NearSearch([POLICY, other], similarity=0.6))
    out = turn.run(ask("How many vacation days do I get?", file_search=FileSearch(("vs_1",))))
    assert [a.file_id for a in out.annotations] == ["file-t", "file-b"]
    assert "20 days of paid vacation" in out.text


def test_an_answer_that_does_not_state_the_printed_result_gets_it():
    model = RealModel([code_call("print(2 ** 31)"), {"text": "```python\nprint(2 ** 31)\n```"}])
    turn, sink, _ = turn_core(model)
    out = turn.run(ask("What is 2 to the power of 31?",
                       code_interpreter=CodeInterpreter("thread_1")))
    assert out.text.endswith("\n\nThe code printed: 2147483648")
    assert "".join(sink.deltas) == out.text
    # A number inside another is not stated: 12 is not said by "84 and 120".
    model = RealModel([code_call("print(math.gcd(84, 120))"),
                       {"text": "This computes the GCD of 84 and 120."}])
    turn, _, _ = turn_core(model, execution=Execution(logs="12\n"))
    out = turn.run(ask("What is the greatest common divisor of 84 and 120?",
                       code_interpreter=CodeInterpreter("thread_1")))
    assert out.text == "This computes the GCD of 84 and 120.\n\nThe code printed: 12"


def test_a_printed_number_is_given_as_the_user_asked_for_it():
    def answer(question: str, printed: str, text: str) -> str:
        model = RealModel([code_call("print(x)"), {"text": text}])
        turn, _, _ = turn_core(model, execution=Execution(logs=printed + "\n"))
        return turn.run(ask(question, code_interpreter=CodeInterpreter("thread_1"))).text

    assert answer("What is the square root of 2 to 2 decimal places?", "1.4142135623730951",
                  "```python\nprint(x)\n```").endswith(
        "The code printed: 1.4142135623730951, which is 1.41 to 2 decimal places.")
    assert answer("Invest $1000 at 5% for 10 years. Round to cents.", "1628.894626777442",
                  "You will have 1628.894626777442 dollars.").endswith(
        "\n\nTo 2 decimal places: 1628.89.")
    assert answer("What is 100 °F in Celsius, rounded to one decimal?", "37.77777777777778",
                  "It is 37.8 °C.") == "It is 37.8 °C."
    assert answer("What is the cube root of 729?", "9.000000000000002",
                  "The cube root is 9.000000000000002.").endswith(
        "\n\nWithout the floating-point error: 9.")
    # A number printed as precisely as asked, or with no precision asked, is left as it is.
    assert answer("What is 1/8 as a decimal, to 3 decimals?", "0.125", "Here it is.").endswith(
        "The code printed: 0.125")
    assert answer("What is 22/7?", "3.142857142857143", "It is 3.142857142857143.") == \
        "It is 3.142857142857143."


def test_an_answer_stating_the_result_or_after_a_traceback_gets_nothing_added():
    model = RealModel([code_call("print(2 ** 31)"), {"text": "It is 2,147,483,648."}])
    turn, _, _ = turn_core(model)
    out = turn.run(ask("What is 2 to the power of 31?",
                       code_interpreter=CodeInterpreter("thread_1")))
    assert out.text == "It is 2,147,483,648."
    failed = Execution(logs="Traceback (most recent call last):\nNameError: x", error=True)
    model = RealModel([code_call("print(x)"), {"text": "Something went wrong."}])
    turn, _, _ = turn_core(model, execution=failed)
    out = turn.run(ask("Compute 2 + x.", code_interpreter=CodeInterpreter("thread_1")))
    assert out.text == "Something went wrong."
