"""The server's decision whether the user's latest message plainly asks for a function.

Under `tool_choice: "auto"` a small model decides badly whether to call (docs/tool_calls.md: the
135M default is right on 60% of the eval's test half). The server holds evidence the model
reads poorly: the message and each offered function's name, description and parameter names.
`decide` compares them with sentence embeddings (all-MiniLM-L6-v2, cosine similarity) and a
lexical cue (a distinctive word of the function's name in the message, e.g. "quiz" for
`display_quiz`), and returns:

- `{"name": X}`: the message plainly asks for X (force the call);
- `"none"`: the message is plainly about none of the functions (answer without a call);
- `None`: not plain either way; the model decides as before.

Thresholds were chosen on the dev half of scripts/eval/tool_calls.py only (docs/tool_calls.md,
"The server's decision"). One embedding of the message per turn; the functions' embeddings are
cached by their JSON. Built-in tools (file_search, code_interpreter) are skipped: the engine
decides those by other evidence.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Embed = Callable[[list[str]], np.ndarray]

BUILTIN_NAMES = frozenset({"file_search", "code_interpreter"})
# Force the most similar function when its similarity reaches FORCE_SIM and it leads the next
# one by FORCE_MARGIN; force a function named by a lexical cue (alone) when its similarity
# reaches LEXICAL_SIM; answer without a call when no function reaches NONE_SIM and none is
# named. Chosen on the dev half (docs/tool_calls.md).
FORCE_SIM = 0.45
FORCE_MARGIN = 0.2
LEXICAL_SIM = 0.15
NONE_SIM = 0.3
# Words of a function's name that say what it acts on only vaguely: no cue by themselves.
GENERIC_WORDS = frozenset({
    "get", "set", "put", "post", "send", "show", "display", "make", "create", "find", "search",
    "list", "update", "delete", "remove", "add", "run", "do", "fetch", "look", "lookup", "check",
    "query", "read", "write", "open", "close", "start", "stop", "call", "use", "info", "data",
    "new", "all", "the", "for", "and", "with", "from", "to", "by", "of", "item", "items",
    "value", "values", "tool", "function", "request", "handle", "process", "current",
})
MIN_CUE_CHARS = 4
_CACHE_SIZE = 256


@dataclass(frozen=True)
class Evidence:
    """What the decision reads: per function (in offered order), its best cosine similarity
    to the message and whether the message holds a cue word of its name."""
    names: list[str]
    similarity: np.ndarray
    cued: list[bool]


def decide(user_text: str, functions: Sequence[dict[str, Any]], embed: Embed,
           ) -> dict[str, str] | str | None:
    """`{"name": X}` to force function X, `"none"` to answer without a call, None to leave
    the decision to the model (see the module's docstring)."""
    evidence = gather(user_text, functions, embed)
    if evidence is None:
        return None
    return judge(evidence)


def judge(evidence: Evidence, force_sim: float = FORCE_SIM, force_margin: float = FORCE_MARGIN,
          lexical_sim: float = LEXICAL_SIM, none_sim: float = NONE_SIM,
          ) -> dict[str, str] | str | None:
    """The decision from gathered evidence under the given thresholds (the eval's grid
    varies them; the server uses the defaults)."""
    sims, names = evidence.similarity, evidence.names
    cued = [i for i, c in enumerate(evidence.cued) if c]
    if len(cued) == 1 and sims[cued[0]] >= lexical_sim:
        return {"name": names[cued[0]]}
    order = np.argsort(-sims, kind="stable")
    best = float(sims[order[0]])
    runner_up = float(sims[order[1]]) if len(order) > 1 else 0.0
    if not cued and best >= force_sim and best - runner_up >= force_margin:
        return {"name": names[order[0]]}
    if not cued and best < none_sim:
        return "none"
    return None


def gather(user_text: str, functions: Sequence[dict[str, Any]], embed: Embed,
           ) -> Evidence | None:
    """The evidence for `decide`, or None when there is nothing to compare (no functions
    besides built-ins, or an empty message)."""
    fns = [f for f in (_unwrap(f) for f in functions)
           if f is not None and f["name"] not in BUILTIN_NAMES]
    if not fns or not user_text.strip():
        return None
    message = np.asarray(embed([user_text]), dtype=np.float32)[0]
    sims = np.array([float(np.max(_function_vectors(f, embed) @ message)) for f in fns])
    words = _words(user_text)
    cued = [any(_cue_in(w, words) for w in _name_words(f["name"])) for f in fns]
    return Evidence([f["name"] for f in fns], sims, cued)


def function_texts(fn: dict[str, Any]) -> list[str]:
    """What a function is compared by: its name as words, its description, and the two with
    its parameter names (a function's similarity is the best of these)."""
    name = " ".join(_split_name(fn["name"]))
    description = str(fn.get("description") or "").strip()
    params = fn.get("parameters") or {}
    props = params.get("properties") if isinstance(params, dict) else None
    param_words = ", ".join(" ".join(_split_name(p)) for p in props) if isinstance(props, dict) \
        else ""
    full = f"{name}: {description}" if description else name
    if param_words:
        full += f" ({param_words})"
    return [t for t in dict.fromkeys([name, description, full]) if t]


_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
_vectors_lock = threading.Lock()


def _function_vectors(fn: dict[str, Any], embed: Embed) -> np.ndarray:
    key = json.dumps(fn, sort_keys=True, default=str)
    with _vectors_lock:
        got = _vectors.get(key)
        if got is not None:
            _vectors.move_to_end(key)
            return got
    vectors = np.asarray(embed(function_texts(fn)), dtype=np.float32)
    with _vectors_lock:
        _vectors[key] = vectors
        while len(_vectors) > _CACHE_SIZE:
            _vectors.popitem(last=False)
    return vectors


def _unwrap(fn: Any) -> dict[str, Any] | None:
    """A function definition, flat or in Chat Completions' `{"type": "function", "function":
    {...}}` wrapping; None for anything without a name."""
    if isinstance(fn, dict) and isinstance(fn.get("function"), dict):
        fn = fn["function"]
    if isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]:
        return fn
    return None


def _split_name(name: str) -> list[str]:
    """`get_weather`, `getWeather`, `get-weather` -> ["get", "weather"]."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [w.lower() for w in re.split(r"[\W_]+", spaced) if w]


def _name_words(name: str) -> list[str]:
    return [w for w in _split_name(name)
            if len(w) >= MIN_CUE_CHARS and w.isalpha() and w not in GENERIC_WORDS]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _cue_in(word: str, words: set[str]) -> bool:
    """Whether a form of `word` is among `words`: the same word, or one sharing all but its
    last three letters and at least four (remind/reminder, flight/flights, quiz/quizzes)."""
    for w in words:
        shared = len(word) if w == word else _common_prefix(word, w)
        if shared >= max(MIN_CUE_CHARS, min(len(word), len(w)) - 3):
            return True
    return False


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
