"""What the server adds to an answer from the tools' output when the model's own falls short.

- A search found passages but the answer cites none of them (a small model forgets markers and
  often misstates the fact): the source sentence that best matches the question is quoted after
  the answer, with its marker, so the user sees the fact and where it comes from.
- A program ran without an error but the answer does not state what it printed (a small model
  answers with the program itself, or a number of its own): the printed result follows the
  answer.
- An answer after tool rounds came out empty twice: a short answer is built from the last
  tool's output (the quoted passage, what the code printed, what a function returned).
docs/tool_calls.md, "Where the server decides", says when each applies.
"""

from __future__ import annotations

import re

from airlock.engine.core.citations import content_words
from airlock.engine.core.items import BuiltinCall, FunctionOutput, Item, Source

_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
QUOTE_CHARS = 300
OUTPUT_CHARS = 400
# What of a program's output follows an answer that does not state it.
RESULT_LINES = 3
RESULT_CHARS = 300
_ERROR = re.compile(r"Traceback \(most recent call last\)|^\w*Error\b|\[The code was stopped",
                    re.M)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# A quote must share at least this many content words with the question: a passage on another
# topic is not quoted.
MIN_SHARED = 1


def best_quote(sources: list[Source], question: str, query: str | None = None,
               top: int = 3) -> tuple[Source, str] | None:
    """The sentence of the best `top` sources sharing the most content words with the question
    (and the model's query), with its source; ties go to the higher-ranked source."""
    words = content_words(question) | (content_words(query) if query else set())
    best: tuple[int, Source, str] | None = None
    for source in sources[:top]:
        for sentence in _SENTENCES.split(" ".join(source.text.split("\n"))):
            sentence = " ".join(sentence.split())
            if len(sentence) < 12:
                continue
            shared = len(words & content_words(sentence))
            if shared >= MIN_SHARED and (best is None or shared > best[0]):
                best = (shared, source, sentence[:QUOTE_CHARS])
    return None if best is None else (best[1], best[2])


def code_result(exchange: list[Item], answer: str) -> str | None:
    """What the exchange's last program printed, when it ran without an error and the answer
    does not state it (a small model answers with the program itself, or a number of its own):
    the last lines of its output, for a line after the answer. None otherwise."""
    last = next((i for i in reversed(exchange)
                 if isinstance(i, BuiltinCall) and i.name == "code_interpreter"), None)
    printed = None if last is None else printed_by(last)
    if not printed:
        return None
    numbers = _NUMBER.findall(printed.replace(",", ""))
    said = answer.replace(",", "")
    if (numbers and all(n in said for n in numbers)) or (not numbers and printed in answer):
        return None
    return printed


def printed_by(call: BuiltinCall) -> str | None:
    """The last lines a program printed, when it ran without an error; None otherwise (an
    error, or nothing printed)."""
    if _ERROR.search(call.output):
        return None
    lines = [ln.strip() for ln in call.output.splitlines()
             if ln.strip() and not ln.startswith("[") and ln.strip() != "(no output)"]
    return "\n".join(lines[-RESULT_LINES:])[-RESULT_CHARS:] or None


def result_line(printed: str) -> str:
    return ("The code printed: " + printed) if "\n" not in printed else (
        "The code printed:\n\n" + printed)


def quote_line(source: Source, quote: str) -> str:
    return f'From {source.filename}: "{quote}" {source.marker}'


def fallback_answer(exchange: list[Item], question: str) -> str:
    """A short answer from the exchange's last tool output, for an answer that stayed empty."""
    for item in reversed(exchange):
        if isinstance(item, BuiltinCall) and item.name == "file_search":
            found = best_quote(item.sources, question, item.query)
            if found is not None:
                return quote_line(*found)
            return "I could not find this in the files."
        if isinstance(item, BuiltinCall):
            output = item.output.strip() or "(no output)"
            return "The code's output:\n\n" + output[:OUTPUT_CHARS]
        if isinstance(item, FunctionOutput):
            return "The result: " + item.output.strip()[:OUTPUT_CHARS]
    return ""
