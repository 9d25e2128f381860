"""What the server adds to an answer from the tools' output when the model's own falls short.

- A search found passages but the answer cites none of them (a small model forgets markers and
  often misstates the fact): the source sentence that best matches the question is quoted after
  the answer, with its marker, so the user sees the fact and where it comes from.
- A program ran without an error but the answer does not state what it printed (a small model
  answers with the program itself, or a number of its own): the printed result follows the
  answer. A printed number with more decimals than the user asked for ("to 2 decimal places",
  "round to cents") is given rounded too, and one carrying floating-point error
  (9.000000000000002) is given without it, when the answer does not already say so: small
  models print the raw float and copy it.
- An answer after tool rounds came out empty twice: a short answer is built from the last
  tool's output (the quoted passage, what the code printed, what a function returned).
docs/tool_calls.md, "Where the server decides", says when each applies.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

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
# The precision a question asks for: "to 2 decimal places", "rounded to one decimal", "to the
# nearest tenth", "round to cents".
_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
_DECIMALS = re.compile(r"\b(\d|" + "|".join(_WORDS) + r")\s+decimal(?:s|\s+places?)?\b")
_NEAREST_PLACES = {"whole number": 0, "integer": 0, "tenth": 1, "hundredth": 2, "thousandth": 3,
                   "cent": 2}
_NEAREST = re.compile(r"\bnearest\s+(" + "|".join(_NEAREST_PLACES) + r")\b")
_CENTS = re.compile(r"\b(?:round\w*|to)\s+(?:the\s+)?cents?\b")
# A printed float with this many decimals that is within 1e-9 of a number with CLEAN_DIGITS
# decimals carries floating-point error (math.cbrt(729) prints 9.000000000000002).
FLOAT_NOISE_DIGITS = 12
CLEAN_DIGITS = 6
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


def code_result(exchange: list[Item], answer: str, question: str) -> str | None:
    """A line for after the answer: what the exchange's last program printed, when it ran
    without an error and the answer does not state it (a small model answers with the program
    itself, or a number of its own), or the printed number as asked (`as_asked`) when the
    answer states only the raw one. None when the answer says it all."""
    last = next((i for i in reversed(exchange)
                 if isinstance(i, BuiltinCall) and i.name == "code_interpreter"), None)
    printed = None if last is None else printed_by(last)
    if not printed:
        return None
    asked = as_asked(printed, question)
    if asked is not None and _states(answer, asked[0]):
        return None
    numbers = _NUMBER.findall(printed.replace(",", ""))
    # Whole numbers only: "84 and 120" does not state a printed 12.
    if (numbers and all(_states(answer, n) for n in numbers)) or (
            not numbers and printed in answer):
        return None if asked is None else f"{asked[1].capitalize()}: {asked[0]}."
    return result_line(printed, asked)


def as_asked(printed: str, question: str) -> tuple[str, str] | None:
    """A printed number as the question wants it, with how: (value, how) when the output is
    one number with more decimals than the question asked for, or one carrying floating-point
    error; None otherwise."""
    if not _NUMBER.fullmatch(printed):
        return None
    value = Decimal(printed)
    places = _places_asked(question)
    decimals = -value.as_tuple().exponent  # type: ignore[operator]
    if places is not None and decimals > places:
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        unit = "decimal place" if places == 1 else "decimal places"
        return f"{rounded}", f"to {places} {unit}" if places else "to a whole number"
    if decimals >= FLOAT_NOISE_DIGITS:
        clean = value.quantize(Decimal(1).scaleb(-CLEAN_DIGITS), rounding=ROUND_HALF_UP)
        if abs(value - clean) <= Decimal("1e-9") * max(Decimal(1), abs(value)):
            text = format(clean.normalize(), "f")
            return text, "without the floating-point error"
    return None


def _places_asked(question: str) -> int | None:
    q = question.lower()
    if (m := _DECIMALS.search(q)) is not None:
        n = m.group(1)
        return int(n) if n.isdigit() else _WORDS.index(n)
    if (m := _NEAREST.search(q)) is not None:
        return _NEAREST_PLACES[m.group(1)]
    if _CENTS.search(q):
        return 2
    return None


def _states(answer: str, value: str) -> bool:
    return re.search(r"(?<![\d.])" + re.escape(value) + r"(?!\d|[.,]\d)",
                     answer.replace(",", "")) is not None


def printed_by(call: BuiltinCall) -> str | None:
    """The last lines a program printed, when it ran without an error; None otherwise (an
    error, or nothing printed)."""
    if _ERROR.search(call.output):
        return None
    lines = [ln.strip() for ln in call.output.splitlines()
             if ln.strip() and not ln.startswith("[") and ln.strip() != "(no output)"]
    return "\n".join(lines[-RESULT_LINES:])[-RESULT_CHARS:] or None


def result_line(printed: str, asked: tuple[str, str] | None = None) -> str:
    if asked is not None:
        return f"The code printed: {printed}, which is {asked[0]} {asked[1]}."
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
            printed = printed_by(item)
            asked = None if printed is None else as_asked(printed, question)
            return "The code's output:\n\n" + output[:OUTPUT_CHARS] + (
                "" if asked is None else f"\n\nThat is {asked[0]} {asked[1]}.")
        if isinstance(item, FunctionOutput):
            return "The result: " + item.output.strip()[:OUTPUT_CHARS]
    return ""
