"""Tool calls on a llama.cpp model, decided and written under grammars, so they always parse.

A turn with tools is a few constrained steps, each continuing the text so far in the model's
call format (models.call_formats; the KV prefix makes every step cost only its new tokens):
1. decide (tool_choice "auto" only), from the next-token distribution:
   - native formats (HERMES, LLAMA3): the probability that the reply starts with a call opener
     (`<tool_call>`, `<|python_tag|>`, or a JSON object opening `{"name"`, bare or fenced),
     summed over the ways the model may spell it, token by token; the model calls when it is
     at least the format's threshold;
   - GENERIC: the probability mass of the tokens that start `<tool_call>`'s first character
     (small models rarely rank the opener first even when a call fits, but they do raise its
     probability);
   see scripts/eval/tool_calls.py for the measured decision rates and the thresholds' choice;
2. the function name: a grammar allowing only the declared names (skipped when one is forced);
3. the arguments: a grammar built from the function's JSON schema, bounded so it must close,
   with every declared property written (json_grammar.all_declared: small models leave out
   the optional ones, which real models send and functions read).
   A function that takes only Python code (code_interpreter, Llama's python tool) gets its
   program written where the model writes code best:
   - GENERIC format (models whose template knows no tools): as a Markdown Python block
     (```` ```python ```` after the reply's text, up to the closing fence). In a fence
     SmolLM2-135M writes a program ("result = 2 ** 31; print(...)") where inside a JSON string
     it writes prose ("2^31 ≡ 16");
   - native formats: inside the call's `code` string, opened on a new line (small models then
     write the whole program, definitions then the print, where on the same line they write a
     bare call to a function they never define), any JSON string characters, closed by us at
     the token budget. In a fence after its tool-aware prompt, Qwen2.5-Coder-0.5B wrapped its
     program in a `def code_interpreter(code)` of its own;
4. with parallel_tool_calls, decide again whether another call follows (up to the format's
   maximum).
Arguments are validated with jsonschema as a guarantee.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import llama_cpp
import numpy as np
from llama_cpp.llama_grammar import LlamaGrammar

from airlock.models.call_formats import JSON_OPENERS, CallFormat, advance
from airlock.models.json_grammar import (
    _CHAR_RULE,
    all_declared,
    json_schema_gbnf,
    quantize_budget,
)
from airlock.models.program_loops import looping, without_repeats
from airlock.models.program_unfinished import unfinished

MAX_CALLS = 4
# Room for one call's arguments: enough for real functions, small enough to always finish.
ARGS_BUDGET = 256
MIN_ARGS_BUDGET = 32
CALL_OVERHEAD = 24  # the name and the framing around the arguments
# Room for a program (code-only functions).
CODE_BUDGET = 768
CODE_FENCE = "```python\n"
FENCE_END = "```"
CODE_OPENING = ' {"code": "\\n'
CODE_GBNF = f'root ::= char* "\\"" "}}"\nchar ::= {_CHAR_RULE}'
# A program written on (program_unfinished) starts a line with something other than its end.
CODE_ON_GBNF = f'root ::= [^"\\\\\\x7F\\x00-\\x20] char* "\\"" "}}"\nchar ::= {_CHAR_RULE}'
FENCE_ON_GBNF = 'root ::= [^`\\x00-\\x20] [^\\x00]*'
# Room a program written on needs to be worth asking for: a call and its print.
MIN_CODE_ON = 16
# The opener probability is summed over the next tokens of at least this probability (along
# the whole path), at most this many tokens deep and this many candidates wide.
MIN_PATH_P = 0.01
MAX_DEPTH = 6
TOP_K = 16
# A first token whose continuations open a call at least this often is kept from starting a
# reply once the decision is to answer.
START_BAN_P = 0.5


def first_char_openers(llm: llama_cpp.Llama, vocab: Any, opener: str = "<tool_call>") -> np.ndarray:
    """Ids of the ordinary tokens whose text starts with the opener's first character (control
    tokens excluded): the generic format's decision."""
    ids = [i for i in range(llm.n_vocab())
           if not llama_cpp.llama_vocab_is_control(vocab, i)
           and not llama_cpp.llama_vocab_is_eog(vocab, i)
           and llm.detokenize([i]).startswith(opener[0].encode())]
    return np.array(ids, dtype=np.int64)


@dataclass
class Decision:
    call: bool
    probability: float
    # First tokens that mostly open a call: kept from starting a reply when the decision is no.
    start_tokens: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Target:
    rest: str
    flexible: bool
    started: bool


class ToolTurn:
    def __init__(self, llm: llama_cpp.Llama, vocab: Any, prompt: list[int],
                 tools: list[dict[str, Any]], should_stop: Callable[[], bool],
                 fmt: CallFormat, max_tokens: int, token_text: Callable[[int], str],
                 first_char: np.ndarray | None = None, temperature: float = 0.0):
        self.llm, self.vocab, self.fmt = llm, vocab, fmt
        self.temperature = temperature  # 0: greedy (TurnRequest.call_temperature)
        self.first_char = first_char  # the generic decision's token ids
        self.token_text = token_text  # a token's text, control tokens spelled out
        self.max_tokens = max_tokens  # the turn's whole budget: every call must fit in it
        self.prompt = prompt
        self.tools = {t["name"]: t for t in tools}
        self.should_stop = should_stop
        self.generated = 0

    # -- the decision ----------------------------------------------------------------------

    def decide(self, text_so_far: str = "") -> Decision:
        """Call or answer, read off the next-token distribution after `text_so_far`."""
        tokens = self.prompt + self._encode(text_so_far)
        if self.fmt.first_char_decision and self.first_char is not None:
            probs = _softmax(self._next_logits(tokens))
            p = float(probs[self.first_char].sum())
            return Decision(p >= self.fmt.threshold, p)
        targets = [_Target(o, False, False) for o in self.fmt.openers]
        if not text_so_far:  # a bare JSON call only opens a reply
            targets += [_Target(o, True, False) for o in JSON_OPENERS]
        firsts: dict[int, float] = {}
        p = self._opener_probability(tokens, targets, 0, 1.0, firsts)
        return Decision(p >= self.fmt.threshold, p,
                        [t for t, share in firsts.items() if share >= START_BAN_P])

    def _opener_probability(self, tokens: list[int], targets: list[_Target], depth: int,
                            path_p: float, firsts: dict[int, float]) -> float:
        """The probability that what follows `tokens` completes one of `targets`."""
        probs = _softmax(self._next_logits(tokens))
        k = min(TOP_K, len(probs) - 1)
        top = np.argpartition(-probs, k)[:k]
        total = 0.0
        for t in sorted(top.tolist(), key=lambda i: -probs[i]):
            p = float(probs[t])
            if p * path_p < MIN_PATH_P:
                continue
            piece = self.token_text(t)
            if not piece:
                continue
            live: list[_Target] = []
            done = False
            for target in targets:
                rest = advance(target.rest, piece, flexible=target.flexible,
                               started=target.started)
                if rest == "":
                    done = True
                    break
                if rest is not None:
                    live.append(_Target(rest, target.flexible,
                                        target.started or rest != target.rest))
            if done:
                share = 1.0
            elif live and depth + 1 < MAX_DEPTH:
                share = self._opener_probability(tokens + [t], live, depth + 1, path_p * p, firsts)
            else:
                continue
            total += p * share
            if depth == 0:
                firsts[t] = share
        return total

    def _next_logits(self, tokens: list[int]) -> np.ndarray:
        """Logits after `tokens`, evaluating only what the context does not hold yet."""
        llm = self.llm
        same = 0
        for held, wanted in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
            if held != wanted:
                break
            same += 1
        same = min(same, len(tokens) - 1)  # the last token is evaluated again for its logits
        llm.n_tokens = same
        llm.eval(tokens[same:])
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()

    # -- writing calls ---------------------------------------------------------------------

    def calls(self, forced: str | None, parallel: bool, prefix: str = "") -> list[dict[str, str]]:
        """Calls written in the format after `prefix` (text the reply already holds)."""
        fmt = self.fmt
        text = prefix + ("\n" if prefix and not prefix.endswith("\n") else "")
        out: list[dict[str, str]] = []
        while True:
            budget = min(ARGS_BUDGET, self.max_tokens - self.generated - CALL_OVERHEAD)
            if budget < MIN_ARGS_BUDGET:
                return out  # no room for (another) call: the caller answers instead
            if out:
                text += fmt.separator
            # Each value is decoded after the `":` before it, its space under the grammar: the
            # tokenizers merge that space with what follows (` "`, ` {"`), and a prompt ending
            # in a lone space token throws small models off (wrong names, odd arguments).
            text += fmt.begin
            try:
                name = forced or self._choose_name(text)
                text += f' {json.dumps(name)}, "{fmt.args_key}":'
                arguments = self._arguments(text, name, budget, prefix)
            except _Stopped:
                return out  # the run is stopping: no half-written call
            text += f" {arguments}{fmt.end}"
            out.append({"name": name, "arguments": arguments})
            if (not parallel or len(out) >= min(MAX_CALLS, fmt.max_calls)
                    or self.should_stop()):
                return out
            if not self.decide(text).call:
                return out  # a forced function stays forced for every parallel call

    def _choose_name(self, text: str) -> str:
        names = list(self.tools)
        if len(names) == 1:
            return names[0]
        alts = " | ".join(_gbnf_literal(json.dumps(n)) for n in names)
        got = self._detok(self._tokens(text, LlamaGrammar.from_string(
            f'root ::= " " ({alts})', verbose=False), 64))
        return json.loads(got)

    def _arguments(self, text: str, name: str, budget: int, prefix: str = "") -> str:
        """The call's arguments after `text` (the reply so far and the call's framing);
        `prefix`: the reply's text before the call."""
        schema = self.tools[name].get("parameters") or {"type": "object"}
        value: Any = None
        if takes_code(schema):
            room = min(CODE_BUDGET, self.max_tokens - self.generated - CALL_OVERHEAD)
            value = self._code_in_string(text, room) if self.fmt.native \
                else self._code(prefix, room)
        if value is None:
            budget = max(MIN_ARGS_BUDGET // 2,
                         min(budget, self.max_tokens - self.generated - CALL_OVERHEAD))
            grammar = LlamaGrammar.from_string(
                spaced(json_schema_gbnf(all_declared(schema), quantize_budget(budget))),
                verbose=False)
            # The grammar guarantees JSON; the schema check is the guarantee.
            value = json.loads(self._detok(self._tokens(text, grammar, budget)))
        jsonschema.validate(value, schema)
        return json.dumps(value)

    def _code_in_string(self, text: str, budget: int) -> dict[str, str] | None:
        """The program, written in the call's `code` string from a new line; None when the
        model wrote none there (loops are cut as in `_code`)."""
        grammar = LlamaGrammar.from_string(CODE_GBNF, verbose=False)

        def loops(out: list[int]) -> bool:
            return looping(self._detok(out).replace("\\n", "\n"))

        out = self._tokens(text + CODE_OPENING, grammar, budget, halt=loops)
        raw = self._detok(out)
        if raw.endswith('"}') and budget - len(out) >= MIN_CODE_ON \
                and unfinished(json.loads(CODE_OPENING + raw)["code"]):
            so_far = raw[:-2] + "\\n\\n"
            raw = so_far + self._written_on(
                text + CODE_OPENING, so_far, CODE_ON_GBNF, budget - len(out),
                lambda on: looping((so_far + on).replace("\\n", "\n")))
        cut = not raw.endswith('"}')
        if cut:  # the budget ran out or a loop was stopped: close the string ourselves
            raw = _complete_escapes(raw) + '"}'
        code = json.loads(CODE_OPENING + raw)["code"]
        return _program(code, cut)

    def _code(self, prefix: str, budget: int) -> dict[str, str] | None:
        """The program, written in a Python block after the reply's text `prefix`; None when
        the model wrote none there.

        Small models loop inside programs too (program_loops): decoding stops when one begins,
        the repeats are dropped, and a program cut by the budget loses its unfinished last
        line, so what runs is what the model meant, not a syntax error."""
        text = prefix + ("\n" if prefix and not prefix.endswith("\n") else "") + CODE_FENCE

        def done(out: list[int]) -> bool:
            raw = self._detok(out)
            return FENCE_END in raw or looping(raw)

        out = self._tokens(text, None, budget, halt=done)
        raw = self._detok(out)
        if FENCE_END in raw and budget - len(out) >= MIN_CODE_ON \
                and unfinished(code := raw.split(FENCE_END, 1)[0]):
            so_far = code.rstrip("\n") + "\n\n"
            raw = so_far + self._written_on(
                text, so_far, FENCE_ON_GBNF, budget - len(out),
                lambda on: FENCE_END in on or looping(so_far + on))
        cut = FENCE_END not in raw  # the budget ran out or a loop was stopped
        return _program(raw.split(FENCE_END, 1)[0], cut)

    def _written_on(self, text: str, so_far: str, gbnf: str, budget: int,
                    halt: Callable[[str], bool]) -> str:
        """What the model writes after `so_far`, a program it closed without running anything
        it defined (program_unfinished), from a new line under `gbnf`; `halt` is asked with the
        text written on so far."""
        grammar = LlamaGrammar.from_string(gbnf, verbose=False)
        return self._detok(self._tokens(text + so_far, grammar, budget,
                                        halt=lambda out: halt(self._detok(out))))

    def _encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=False) if text else []

    def _tokens(self, text: str, grammar: LlamaGrammar | None, max_tokens: int,
                halt: Callable[[list[int]], bool] | None = None) -> list[int]:
        """Tokens decoded under `grammar` (greedily unless the turn samples); `halt`, asked
        after each token, may end them."""
        tokens = self.prompt + self._encode(text)
        out: list[int] = []
        gen = self.llm.generate(tokens, temp=self.temperature, grammar=grammar)
        try:
            for token in gen:
                if llama_cpp.llama_vocab_is_eog(self.vocab, token) or self.should_stop():
                    break
                out.append(token)
                if len(out) >= max_tokens:
                    break
                if halt is not None and halt(out):
                    break
        finally:
            gen.close()
        self.generated += len(out)
        if self.should_stop():
            raise _Stopped  # what was decoded is cut short: not a value to parse
        return out

    def _detok(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")


class _Stopped(Exception):
    """The run is stopping (cancelled, or its deadline passed) while a call is decoded."""


def spaced(gbnf: str) -> str:
    """The grammar with a space before its root: the space after `":`."""
    spaced_root, n = re.subn(r"^root ::= (.*)$", r'root ::= " " (\1)', gbnf, count=1,
                             flags=re.MULTILINE)
    if n != 1:
        raise ValueError("a grammar without a one-line root rule")
    return spaced_root


def takes_code(schema: dict[str, Any]) -> bool:
    """A function whose only argument is a string named `code`: a program to run."""
    props = schema.get("properties")
    return (schema.get("type") == "object" and isinstance(props, dict) and list(props) == ["code"]
            and isinstance(props["code"], dict) and props["code"].get("type") == "string"
            and set(props["code"]) <= {"type", "description", "title"})


def _program(code: str, cut: bool) -> dict[str, str] | None:
    """The `code` argument of what the model wrote; `cut`: decoding stopped before the program
    ended, so its unfinished last line goes."""
    lines = code.strip("\n").split("\n")
    if cut and len(lines) > 1:
        lines = lines[:-1]  # unfinished
    code = "\n".join(without_repeats(lines)).strip("\n")
    return {"code": code} if code.strip() else None


def _complete_escapes(raw: str) -> str:
    """JSON string characters (valid so far) cut anywhere: without a trailing incomplete
    escape (a lone backslash, or `\\u` and fewer than four hex digits)."""
    i = raw.rfind("\\")
    if i < 0:
        return raw
    run = len(raw[: i + 1]) - len(raw[: i + 1].rstrip("\\"))  # backslashes ending at i
    if run % 2 == 0:
        return raw  # escaped backslashes, complete
    tail = raw[i + 1:]
    if tail == "" or (tail[0] == "u" and len(tail) < 5):
        return raw[:i]
    return raw


def _softmax(logits: np.ndarray) -> np.ndarray:
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
