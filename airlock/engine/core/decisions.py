"""Decisions the server makes for the model about built-in tools, from evidence it holds.

A 135M model cannot tell well whether a message needs a search or a program: its next-token
probability of a call barely differs between "How many vacation days do I get?" and "Bye!".
The server can, so under `tool_choice: "auto"`, on the first round of an exchange (docs/
tool_calls.md, "Where the server decides"):

- file_search: the user's message is compared with the attached stores (the best cosine
  similarity of any window, `Search.nearest`). At or above SEARCH_SIMILARITY the search runs
  (the model still writes its own query, fused with the message); below it, file_search is not
  offered for that round and the model answers. A store with no searchable file offers nothing.
- code_interpreter: a message that asks for something computed (an arithmetic expression, or a
  word like calculate/plot/factorial with a number or formula to work on) makes the round run
  code; any other message is answered without it in the first round. Its program is written
  again (sampled, up to twice) when it reads the clock for a message that does not ask about
  the present, or a file in /mnt/data the run does not have.

The thresholds and cues were chosen on the dev half of scripts/eval/tools_warranted_data and
the test half is reported (docs/benchmarks.md).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

# Cosine similarity (all-MiniLM-L6-v2) of the user's message to the nearest window of the
# stores at which the message counts as a question about the files.
SEARCH_SIMILARITY = 0.25

# An operation between two numbers: 3 + 4, 2^31, 17*3, 2 ** 10, 12 / 4, 5 x 6, 17% of 2350.
_EXPRESSION = re.compile(r"\d\s*(?:\*\*|[-+*/^×÷x%]|%\s*of)\s*\(?\s*-?\$?\d")
# A conversion between units: "How many seconds are there in a week?"
_CONVERSION = re.compile(r"\bhow many \w+ (?:are )?(?:there )?in (?:a|an|one|\d)", re.I)
_NUMBER = re.compile(r"\d")
# A question for a quantity: with a number in the message, the answer is computed from it
# ("What's 3 to the 15th?", "How many ways can I choose 3 books out of 10?").
_QUANTITY = re.compile(
    r"\b(?:what(?:'s| is| are| was| will be| would be)|how (?:much|many|long|far|fast|old|big)|"
    r"find|convert|add up|work out|figure out|is \d[\d,.]* (?:a )?prime)\b", re.I)
# Words that ask for a computation when the message also has something to compute with.
_COMPUTE = re.compile(
    r"\b(?:calculate|compute|evaluate|solve|simplify|factorial|factori[sz]e|fibonacci|prime|"
    r"primes|square root|cube root|sqrt|squared|cubed|power|exponent|logarithm|log|sum|total|"
    r"average|mean|median|variance|standard deviation|percent|percentage|divided|divide|"
    r"multiply|multiplied|times|plus|minus|product|remainder|modulo|gcd|lcm|derivative|"
    r"integral|integrate|differentiate|digits|decimal places|round)\b", re.I)
# Drawing needs no number: "plot y = x^2", "draw a sine wave", "chart these sales".
_DRAW = re.compile(r"\b(?:plot|graph|chart|draw|visuali[sz]e|histogram)\b", re.I)
_FORMULA = re.compile(r"[a-z]\s*=\s*[-+\w(]|\b(?:sin|cos|tan|sine|cosine|x\^|x²|x\*\*)", re.I)


def wants_search(similarity: float) -> bool:
    """Whether a message this close to the stores' nearest window is about the files."""
    return similarity >= SEARCH_SIMILARITY


def wants_code(message: str) -> bool:
    """Whether the message asks for something computed (or drawn)."""
    if _EXPRESSION.search(message) or _CONVERSION.search(message):
        return True
    if _QUANTITY.search(message) and _NUMBER.search(message):
        return True
    if _DRAW.search(message) and (_NUMBER.search(message) or _FORMULA.search(message)
                                  or re.search(r"\b(?:data|values|numbers|sales)\b", message,
                                               re.I)):
        return True
    return bool(_COMPUTE.search(message) and (_NUMBER.search(message)
                                              or _FORMULA.search(message)))


# --- a program that reads the clock ----------------------------------------------------------

# Qwen2.5-Coder-0.5B answered "How many seconds are there in a week?" with
# `time.strftime('%H:%M:%S')`: the time of day. A computation needs the clock only when the
# message asks about the present (or about timing).
_PRESENT = re.compile(
    r"\b(?:now|today|tonight|tomorrow|yesterday|current|currently|clock|timestamp|epoch|"
    r"this (?:year|month|week)|what (?:time|day|date)|how long does|timing|benchmark)\b", re.I)
_CLOCK_MODULES = {"time"}
_CLOCK_READS = {"now", "today", "utcnow"}  # datetime.now(), date.today()


def reads_clock(code: str) -> bool:
    """Whether the program uses the `time` module or asks datetime for the present."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name in _CLOCK_MODULES for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module in _CLOCK_MODULES:
            return True
        if isinstance(node, ast.Attribute) and node.attr in _CLOCK_READS:
            return True
    return False


def off_the_clock(code: str, message: str) -> bool:
    """Whether the program reads the clock for a message that does not ask about the present."""
    return reads_clock(code) and not _PRESENT.search(message)


# --- a program that reads a file the run does not have ---------------------------------------

# Asked for a sale price, Qwen2.5-Coder-0.5B wrote `pd.read_csv('/mnt/data/shirt_data.csv')`
# (the first report: a missing '/mnt/data/data.csv'): a file nobody attached, which the
# program's fix reads again. Calls that read a file named as a literal path:
_READERS = {"read_csv", "read_excel", "read_json", "read_table", "read_parquet", "read_fwf",
            "read_pickle", "loadtxt", "genfromtxt", "load", "imread", "open"}
DATA_DIR = "/mnt/data/"


def files_read(code: str) -> list[str]:
    """The paths the program reads by name: a string literal as the first argument of a reader
    (pandas' read_*, numpy's loadtxt/genfromtxt/load, imread, open() not for writing)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    paths = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if name not in _READERS or not isinstance(first, ast.Constant) \
                or not isinstance(first.value, str):
            continue
        if name == "open" and any(c in _open_mode(node) for c in "wax"):
            continue  # written, not read
        paths.append(first.value)
    return paths


def _open_mode(call: ast.Call) -> str:
    mode = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else ""


def missing_file(code: str, has: Callable[[str], bool]) -> str | None:
    """The first path in /mnt/data (absolute, or relative to it: the kernel's directory) the
    program reads that `has` does not know; other places and URLs are not the server's to
    know."""
    for path in files_read(code):
        name = path[len(DATA_DIR):] if path.startswith(DATA_DIR) else path
        if "://" in path or name.startswith("/") or not name:
            continue
        if not has(name):
            return path
    return None


# --- a program is a program ------------------------------------------------------------------

# Chat-template and tool markup a small model may write inside a program's string; everything
# from the first of these on is not the program.
_MARKUP = re.compile(r"</?tool_call>|</?tool_response>|<\|[^|>]{0,40}\|>|<\|")
# At most this many lines before a program may be dropped for not being Python.
MAX_LEADING = 3
_JSON_TAIL = re.compile(r"[\"'}\]\s]+$")
_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)(?:\n```.*)?$", re.S)


def program(code: str) -> str | None:
    """The Python program in what the model wrote as code_interpreter's input, or None when
    nothing of it parses as Python (prose, a traceback, a tool's message). Markup is cut off,
    a fence unwrapped, the call's JSON closing after the last line dropped, and lines that do
    not parse dropped: trailing ones (a sentence after the program), then leading ones (the
    equation restated before it)."""
    code = _MARKUP.split(code, maxsplit=1)[0]
    fenced = _FENCE.match(code)
    if fenced:
        code = fenced.group(1)
    lines = code.rstrip().splitlines()
    # Leading lines that are not Python (the equation restated: "3x + 11 = 14") go too.
    for start in range(min(len(lines), MAX_LEADING + 1)):
        if start and _is_code(lines[start - 1]):
            continue  # a program does not start after a line of code
        found = _longest_program(lines[start:])
        if found is not None:
            return found
    return None


def _longest_program(lines: list[str]) -> str | None:
    """The lines, less the fewest trailing ones, that parse as a program."""
    lines = list(lines)
    while lines:
        text = "\n".join(lines).strip("\n")
        # The call's JSON closing on the program's last line: print(2 ** 31)"}}
        for candidate in (text, _JSON_TAIL.sub("", text)):
            if candidate.strip() and _is_code(candidate):
                return candidate
        lines.pop()
    return None


def _is_code(text: str) -> bool:
    """It parses as Python and does something. Words parse too but are not code: a lone name
    or a bare string ("Hello", "'done'"), a bare annotation (a traceback's "NameError: x"),
    only comments ("# Your code here")."""
    try:
        body = ast.parse(text).body
    except (SyntaxError, ValueError):
        return False
    return any(not _word(statement) for statement in body)


def _word(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.AnnAssign):
        return statement.value is None
    return (isinstance(statement, ast.Expr)
            and isinstance(statement.value, (ast.Name, ast.Constant))
            and not isinstance(getattr(statement.value, "value", None), (int, float)))
