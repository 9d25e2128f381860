"""Tool calls on a llama.cpp model, decided and written under grammars, so they always parse.

A turn with tools is a few constrained steps, each continuing the text so far (the KV prefix
makes every step cost only its new tokens):
1. decide (tool_choice "auto" only): the first token may either open `<tool_call>` or start an
   answer; a greedy pick between the two;
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
from llama_cpp.llama_grammar import LlamaGrammar

from airlock.models.json_grammar import json_schema_gbnf, quantize_budget
from airlock.models.tools import CALL_CLOSE, CALL_OPEN

MAX_CALLS = 4
# Room for one call's arguments: enough for real functions, small enough to always finish.
ARGS_BUDGET = 256
_DECIDE = f'root ::= "{CALL_OPEN[0]}" | [^{CALL_OPEN[0]}] [^{CALL_OPEN[0]}]*'


class ToolTurn:
    def __init__(self, llm: llama_cpp.Llama, vocab: Any, prompt: list[int],
                 tools: list[dict[str, Any]], should_stop: Callable[[], bool]):
        self.llm, self.vocab = llm, vocab
        self.prompt = prompt
        self.tools = {t["name"]: t for t in tools}
        self.should_stop = should_stop
        self.generated = 0

    def wants_call(self, text_so_far: str = "") -> bool:
        """The constrained choice between calling and answering, read off one greedy token."""
        token = self._tokens(text_so_far, LlamaGrammar.from_string(_DECIDE, verbose=False),
                             max_tokens=1, count=False)
        return bool(token) and self._detok(token).startswith(CALL_OPEN[0])

    def calls(self, forced: str | None, parallel: bool) -> list[dict[str, str]]:
        text, out = "", []
        while True:
            text += f'{CALL_OPEN}\n{{"name": '
            name = forced or self._choose_name(text)
            text += json.dumps(name) + ', "arguments": '
            arguments = self._arguments(text, name)
            text += arguments + f"}}\n{CALL_CLOSE}\n"
            out.append({"name": name, "arguments": arguments})
            if not parallel or len(out) >= MAX_CALLS or self.should_stop():
                return out
            if not self.wants_call(text):
                return out
            forced = None

    def _choose_name(self, text: str) -> str:
        names = list(self.tools)
        if len(names) == 1:
            return names[0]
        alts = " | ".join(_gbnf_literal(json.dumps(n)) for n in names)
        got = self._detok(self._tokens(text, LlamaGrammar.from_string(f"root ::= {alts}",
                                                                     verbose=False), 64))
        return json.loads(got)

    def _arguments(self, text: str, name: str) -> str:
        schema = self.tools[name].get("parameters") or {"type": "object"}
        grammar = LlamaGrammar.from_string(json_schema_gbnf(schema, quantize_budget(ARGS_BUDGET)),
                                           verbose=False)
        raw = self._detok(self._tokens(text, grammar, ARGS_BUDGET))
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
