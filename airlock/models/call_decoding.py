"""Tool calls on a llama.cpp model, decided and written under grammars, so they always parse.

A turn with tools is a few constrained steps, each continuing the text so far (the KV prefix
makes every step cost only its new tokens):
1. decide (tool_choice "auto" only): the model calls when it gives the tokens that open
   `<tool_call>` at least CALL_THRESHOLD of the next-token probability. Small models rarely rank
   the opener first even when a call fits, but they do raise its probability (see
   scripts/eval/tool_calls.py for the measured decision rate);
2. the function name: a grammar allowing only the declared names (skipped when one is forced);
3. the arguments: a grammar built from the function's JSON schema, bounded so it must close;
4. with parallel_tool_calls, decide again whether another call follows (up to MAX_CALLS).
Arguments are validated with jsonschema as a guarantee.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import llama_cpp
import numpy as np
from llama_cpp.llama_grammar import LlamaGrammar

from airlock.models.function_prompt import CALL_CLOSE, CALL_OPEN
from airlock.models.json_grammar import json_schema_gbnf, quantize_budget

MAX_CALLS = 4
# Chosen on the evaluation's cases with SmolLM2-135M: greedy (opener ranked first) called on
# none of 20 call cases; this threshold is right on 22 of 30.
CALL_THRESHOLD = 0.005
# Room for one call's arguments: enough for real functions, small enough to always finish.
ARGS_BUDGET = 256
MIN_ARGS_BUDGET = 32
CALL_OVERHEAD = 24  # the name and the <tool_call> framing around the arguments


def call_openers(llm: llama_cpp.Llama, vocab: Any) -> np.ndarray:
    """Ids of the ordinary tokens whose text starts a `<tool_call>` (control tokens excluded)."""
    ids = [i for i in range(llm.n_vocab())
           if not llama_cpp.llama_vocab_is_control(vocab, i)
           and not llama_cpp.llama_vocab_is_eog(vocab, i)
           and llm.detokenize([i]).startswith(CALL_OPEN[0].encode())]
    return np.array(ids, dtype=np.int64)


class ToolTurn:
    def __init__(self, llm: llama_cpp.Llama, vocab: Any, prompt: list[int],
                 tools: list[dict[str, Any]], should_stop: Callable[[], bool],
                 openers: np.ndarray, max_tokens: int):
        self.llm, self.vocab, self.openers = llm, vocab, openers
        self.max_tokens = max_tokens  # the turn's whole budget: every call must fit in it
        self.prompt = prompt
        self.tools = {t["name"]: t for t in tools}
        self.should_stop = should_stop
        self.generated = 0

    def wants_call(self, text_so_far: str = "") -> bool:
        """The choice between calling and answering, read off the next-token distribution."""
        tokens = self.prompt + (self.llm.tokenize(text_so_far.encode(), add_bos=False,
                                                  special=False) if text_so_far else [])
        logits = self._next_logits(tokens)
        probs = np.exp(logits - logits.max())
        return float(probs[self.openers].sum() / probs.sum()) >= CALL_THRESHOLD

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

    def calls(self, forced: str | None, parallel: bool) -> list[dict[str, str]]:
        text = ""
        out: list[dict[str, str]] = []
        while True:
            budget = min(ARGS_BUDGET, self.max_tokens - self.generated - CALL_OVERHEAD)
            if budget < MIN_ARGS_BUDGET:
                return out  # no room for (another) call: the caller answers instead
            text += f'{CALL_OPEN}\n{{"name": '
            name = forced or self._choose_name(text)
            text += json.dumps(name) + ', "arguments": '
            arguments = self._arguments(text, name, budget)
            text += arguments + f"}}\n{CALL_CLOSE}\n"
            out.append({"name": name, "arguments": arguments})
            if not parallel or len(out) >= MAX_CALLS or self.should_stop():
                return out
            if not self.wants_call(text):
                return out  # a forced function stays forced for every parallel call

    def _choose_name(self, text: str) -> str:
        names = list(self.tools)
        if len(names) == 1:
            return names[0]
        alts = " | ".join(_gbnf_literal(json.dumps(n)) for n in names)
        got = self._detok(self._tokens(text, LlamaGrammar.from_string(f"root ::= {alts}",
                                                                     verbose=False), 64))
        return json.loads(got)

    def _arguments(self, text: str, name: str, budget: int) -> str:
        schema = self.tools[name].get("parameters") or {"type": "object"}
        grammar = LlamaGrammar.from_string(json_schema_gbnf(schema, quantize_budget(budget)),
                                           verbose=False)
        raw = self._detok(self._tokens(text, grammar, budget))
        value = json.loads(raw)  # the grammar guarantees JSON; the schema check is the guarantee
        jsonschema.validate(value, schema)
        return json.dumps(value)

    def _tokens(self, text: str, grammar: LlamaGrammar, max_tokens: int,
                count: bool = True) -> list[int]:
        tokens = self.prompt + (self.llm.tokenize(text.encode(), add_bos=False, special=False)
                                if text else [])
        out: list[int] = []
        gen = self.llm.generate(tokens, temp=0.0, grammar=grammar)
        try:
            for token in gen:
                if llama_cpp.llama_vocab_is_eog(self.vocab, token) or self.should_stop():
                    break
                out.append(token)
                if len(out) >= max_tokens:
                    break
        finally:
            gen.close()
        if count:
            self.generated += len(out)
        return out

    def _detok(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
