"""A GGUF model in-process through llama-cpp-python: the default `ModelBackend`.

- The prompt is the GGUF's own chat template (Jinja, as Hugging Face renders it), or an
  override, or ChatML when the file has none.
- Tool calls are offered and decoded in the call format of the template's family
  (models.call_formats: Hermes/Qwen `<tool_call>`, Llama 3.x JSON, or the generic tool section),
  under grammars (models.call_decoding); tool rounds render through the template's own
  `tool_calls` and `tool` role when it has them.
- Tokens stream from `Llama.generate`; each token's bytes go through an incremental UTF-8
  decoder, so a piece is never half a character. Text that could be the start of a stop string,
  of a call or of template markup is held back until it is known not to be one
  (models.text_gate): markup never reaches the reply. A call the model starts in its text is
  decoded as a real call when the turn may call tools, and ends the reply when it may not; a
  reply that would be empty because it opened with one is sampled again without that opening.
- KV reuse: the context keeps the last evaluated sequence and `Llama.generate` re-evaluates only
  what follows the longest common prefix (consecutive turns of one thread). Before a turn of
  another conversation overwrites that sequence, its state is saved to a bounded RAM cache
  (`LlamaRAMCache`), and a later turn whose prompt shares more with a cached state than with the
  live context restores it first (interleaved threads).
- `json_object` / `json_schema` decode under a GBNF grammar, with strings, arrays and objects
  bounded so that the JSON can close within the token budget.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import llama_cpp
import numpy as np
from llama_cpp.llama import LlamaState
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import LlamaGrammar
from llama_cpp.llama_types import ChatCompletionRequestMessage, ChatCompletionTool

from airlock.cpu import ThreadTuner, available_cores, candidates
from airlock.models.backend import FinishReason, TurnRequest, TurnResult
from airlock.models.call_decoding import Decision, ToolTurn, first_char_openers, takes_code
from airlock.models.call_formats import (
    CALL_OPENERS,
    CODE_FENCES,
    GENERIC,
    CallFormat,
    detect,
    markup,
)
from airlock.models.fair_lock import FairLock
from airlock.models.function_prompt import native_messages, plain_messages
from airlock.models.json_grammar import json_object_gbnf, json_schema_gbnf, quantize_budget
from airlock.models.logprobs import LogprobRecorder
from airlock.models.text_gate import TextGate, find_stop, stop_prefix_len

MiB = 1 << 20
DEFAULT_CACHE_BYTES = 512 * MiB
# Fixed, so that the same request on the same state samples the same reply.
DEFAULT_SEED = 1234
# Used when the GGUF carries no chat template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_STOP = "<|im_end|>"
# A live sequence is saved to the state cache before being overwritten only when at least this
# many of its tokens would be lost (smaller tails are cheaper to re-evaluate than to store).
MIN_SNAPSHOT_TOKENS = 32
# A cached state is restored only when it reuses this many more tokens than the live context.
MIN_RESTORE_GAIN = 8
# A reply that would be empty because it opened with a call it may not make (or with markup) is
# sampled again, its first token banned, at most this many times.
START_RETRIES = 3
_PIECE_BUF = 256
log = logging.getLogger("airlock.models")


class ContextOverflow(ValueError):
    """The prompt does not fit the model's context window."""


class _Cancelled(Exception):
    pass


class _Llama(llama_cpp.Llama):
    """`Llama` with three hooks on `eval`: it records where the first evaluation of a turn
    started (the number of prompt tokens reused from the KV cache); it evaluates a long prompt in
    batches, polling the cancel callback between them; and each evaluation runs at the thread
    count its tuner picks (one tuner for single-token decode, one for prompt batches), timed for
    that tuner (airlock.cpu)."""

    first_n_past: int | None = None
    abort: Callable[[], bool] | None = None
    decode_tuner: ThreadTuner
    batch_tuner: ThreadTuner
    _set_threads: tuple[int, int] = (0, 0)

    def eval(self, tokens):  # noqa: A003 - overrides Llama.eval
        if self.first_n_past is None:
            self.first_n_past = self.n_tokens
        abort = self.abort
        if abort is None or len(tokens) <= 1:
            return self._timed_eval(tokens)
        step = self.n_batch
        for i in range(0, len(tokens), step):
            if abort():
                raise _Cancelled
            self._timed_eval(tokens[i : i + step])

    def _timed_eval(self, tokens) -> None:
        if not tokens:
            return
        tuner = self.decode_tuner if len(tokens) == 1 else self.batch_tuner
        n = tuner.pick()
        want = (n, self.batch_tuner.current) if tuner is self.decode_tuner \
            else (self.decode_tuner.current, n)
        if want != self._set_threads:
            llama_cpp.llama_set_n_threads(self.ctx, want[0], want[1])
            self._set_threads = want
        t0 = time.perf_counter()
        super().eval(tokens)
        tuner.record(n, len(tokens), time.perf_counter() - t0)


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if diff.size else n


class LlamaBackend:
    """One GGUF model, one context. Not thread-safe beyond `count_tokens`: one generation at a
    time (a lock enforces it)."""

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        chat_template: str | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ):
        """`n_threads` / `n_threads_batch`: fixed thread counts for decoding and for prompt
        batches; None chooses among 1, half and all cores by measured speed (airlock.cpu)."""
        self.name = name
        self.path = Path(path)
        cores = available_cores()
        decode = ThreadTuner([n_threads] if n_threads else candidates(cores))
        batch = ThreadTuner([n_threads_batch] if n_threads_batch else candidates(cores))
        self._llm = _Llama(
            model_path=str(self.path),
            n_ctx=n_ctx,
            n_threads=decode.current,
            n_threads_batch=batch.current,
            seed=DEFAULT_SEED,
            verbose=False,
        )
        self._llm.decode_tuner, self._llm.batch_tuner = decode, batch
        self._llm._set_threads = (decode.current, batch.current)
        self.threads = {"decode": _describe(decode), "batch": _describe(batch)}
        log.info("model %s: decode threads %s; prompt-batch threads %s", name,
                 self.threads["decode"], self.threads["batch"])
        self.n_ctx = self._llm.n_ctx()
        # Runs and chat requests take turns on the one context, in arrival order.
        self._lock = FairLock()
        model = self._llm._model
        self._vocab = model.vocab
        self._add_bos = bool(model.add_bos_token())
        bos_id, eos_id = model.token_bos(), model.token_eos()
        self._bos_text = model.token_get_text(bos_id) if bos_id != -1 else ""
        eos_text = model.token_get_text(eos_id) if eos_id != -1 else ""

        template = chat_template or self._llm.metadata.get("tokenizer.chat_template")
        stops = {eos_text}
        if not template:
            template = CHATML_TEMPLATE
            stops.add(CHATML_STOP)
        self.chat_template = template
        # How the model family writes calls; a template that renders `tools` in a known format
        # gets tools and tool rounds natively (Qwen/Hermes, Llama 3.x).
        self.call_format = detect(template)
        self.native_tools = self.call_format.native
        self._markup = markup(template)
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos_text, bos_token=self._bos_text,
            add_generation_prompt=True,
        )
        try:  # the formatter's own stop strings (for Jinja templates: the EOS text)
            stop = self._formatter(messages=[{"role": "user", "content": "x"}]).stop
            stops.update([stop] if isinstance(stop, str) else stop or [])
        except Exception:  # a template that rejects this probe still renders real threads
            pass
        # Matched on the decoded text; special tokens decode to nothing, so EOS-like stops only
        # fire when a model spells them out in plain text. EOG tokens end generation directly.
        self._stop_strings: tuple[str, ...] = tuple(sorted(s for s in stops if s))

        self._cache = llama_cpp.LlamaRAMCache(capacity_bytes=cache_bytes)
        self._llm.set_cache(self._cache)
        self._kv_thread: str | None = None
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._grammars: OrderedDict[Any, LlamaGrammar] = OrderedDict()
        self._last_prompt: tuple[Any, list[int], CallFormat] | None = None
        self._closed = False
        self._first_char: np.ndarray | None = None  # the generic decision's tokens, on first use
        self._control: dict[int, bool] = {}
        self._texts: dict[int, str] = {}
        self._opener_ids: set[int] | None = None  # single tokens spelling a call opener

    # -- prompt -------------------------------------------------------------------------------

    def render(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = (),
               tool_choice: Any = "none") -> str:
        """The prompt text these messages render to (generation prompt included).

        Tools go through the GGUF's own template when it knows tools in a format we decode,
        else through the generic tool section; tool rounds likewise. Tools are rendered only
        when the model may call them; earlier rounds always render, as data.
        """
        return self._render_format(messages, tools, tool_choice)[0]

    def _render_format(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]],
                       tool_choice: Any) -> tuple[str, CallFormat]:
        offered = bool(tools) and tool_choice != "none"
        fmt = self.call_format
        if fmt.native:
            try:
                # Plain dicts in the OpenAI shapes that llama_cpp's TypedDicts describe: cast,
                # as mypy cannot match dict[str, Any] to a TypedDict.
                native = cast(list[ChatCompletionRequestMessage],
                              native_messages(messages, fmt.one_call_per_message))
                if not offered:
                    return self._formatter(messages=native).prompt, fmt
                offered_tools = cast(list[ChatCompletionTool],
                                     [{"type": "function", "function": t} for t in tools])
                return self._formatter(messages=native, tools=offered_tools).prompt, fmt
            except Exception:  # a template that cannot take these turns: the generic way
                pass
        msgs = [dict(m, content=m.get("content") or "")
                for m in plain_messages(messages, list(tools), tool_choice)]
        try:
            return self._render(msgs), GENERIC
        except Exception:
            # Strict templates (e.g. "roles must alternate", "no system role") reject what an
            # Assistants thread allows: merge same-role runs, then fold the system message in.
            merged = _merge_roles(msgs)
            try:
                return self._render(merged), GENERIC
            except Exception:
                return self._render(_merge_roles(_fold_system(merged))), GENERIC

    def _render(self, messages: list[dict[str, str]]) -> str:
        # role/content dicts: llama_cpp's message TypedDicts, which mypy cannot match to dict[str, str]
        return self._formatter(messages=cast(list[ChatCompletionRequestMessage], messages)).prompt

    def _prompt_tokens(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = (),
                       tool_choice: Any = "none") -> list[int]:
        return self._prompt(messages, tools, tool_choice)[0]

    def _prompt(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]],
                tool_choice: Any) -> tuple[list[int], CallFormat]:
        """The prompt's tokens, and the call format it offers tools in."""
        key = json.dumps([messages, tools, tool_choice], sort_keys=True)
        last = self._last_prompt
        if last is not None and last[0] == key:
            return last[1], last[2]
        text, fmt = self._render_format(messages, tools, tool_choice)
        if self._add_bos and self._bos_text and text.startswith(self._bos_text):
            text = text[len(self._bos_text):]  # the tokenizer adds it
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=self._add_bos, special=True)
        self._last_prompt = (key, tokens, fmt)
        return tokens, fmt

    def count_tokens(self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = (),
                     tool_choice: Any = "none") -> int:
        return len(self._prompt_tokens(messages, tools, tool_choice))

    # -- generation ---------------------------------------------------------------------------

    def generate(
        self,
        request: TurnRequest,
        on_text: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> TurnResult:
        """Samples with temperature/top_p (temperature 0: greedy) plus llama.cpp's top_k=40 and
        min_p=0.05; `request.extra` may set "top_k", "min_p", "repeat_penalty" and "seed".
        Raises ContextOverflow when the prompt leaves no room for a token."""
        if self._closed:
            raise RuntimeError(f"model {self.name} is closed")
        tokens, fmt = self._prompt(request.messages, request.tools, request.tool_choice)
        n_prompt = len(tokens)
        room = self.n_ctx - n_prompt
        if room < 1:
            raise ContextOverflow(
                f"The prompt is {n_prompt} tokens; model {self.name} has a context of {self.n_ctx}."
            )
        max_tokens = request.max_tokens if request.max_tokens and request.max_tokens > 0 else room
        max_tokens = min(max_tokens, room)
        extra = request.extra or {}

        with self._lock:
            llm = self._llm
            calling = bool(request.tools) and request.tool_choice != "none"
            start_bans: set[int] = set()
            cached_before: int | None = None
            if calling:
                if request.call_temperature > 0:  # a sampled second try, reproducible
                    _set_seed(llm, extra)
                result, decision = self._tool_calls(request, tokens, fmt, max_tokens, should_stop)
                if result is not None:
                    return result
                cached_before = llm.first_n_past
                if decision is not None:  # the decision is to answer: no reply opens a call
                    start_bans.update(decision.start_tokens)
            grammar = self._grammar(request, max_tokens)
            self._prepare_kv(tokens, request.thread_id)
            self._kv_thread = request.thread_id
            _set_seed(llm, extra)
            llm.first_n_past = None
            # A call the model starts in its text becomes a real one when calls are allowed
            # (not inside a JSON reply: there it is only text, and ends the reply).
            switch = calling and grammar is None
            openers = self._single_opener_ids()
            start_bans |= openers
            always = set() if switch else openers
            # A model that starts a Python block while it may run code gets its program run:
            # the block becomes a call of the code-only function (code_interpreter).
            code_fn = _code_function(request.tools) if switch else None
            call_openers = CALL_OPENERS + (CODE_FENCES if code_fn else ())
            n_out = 0
            for _attempt in range(START_RETRIES + 1):
                gate = TextGate(self._stop_strings + self._markup + request.controls.stop,
                                call_openers,
                                json_openers=grammar is None and _used_tools(request))
                top = request.controls.top_logprobs
                recorder = LogprobRecorder(top, self._piece) if top is not None else None
                finish, used, first = self._sample(
                    tokens, request, extra, grammar, gate, on_text, should_stop,
                    max_tokens - n_out, always, start_bans, recorder)
                n_out += used
                hit = gate.hit
                if (hit is None or not hit.at_start or grammar is not None or first is None
                        or hit.marker in CODE_FENCES or hit.marker in request.controls.stop
                        or finish == "cancelled" or n_out >= max_tokens):
                    break
                start_bans.add(first)  # it opened a call or markup: sample again without it
            # After a decision step the prompt was evaluated there: report that reuse.
            cached = cached_before if cached_before is not None else (llm.first_n_past or 0)
            text = gate.shown
            fence = hit is not None and hit.marker in CODE_FENCES
            if hit is not None and hit.kind == "call" and switch and (fence or not hit.at_start):
                turn = self._tool_turn(request, tokens, fmt, max_tokens - n_out, should_stop)
                calls = (turn.calls(code_fn, False, prefix=text) if fence
                         else turn.calls(None, request.parallel_tool_calls, prefix=text))
                if calls:
                    return TurnResult(
                        text=text, prompt_tokens=n_prompt,
                        completion_tokens=n_out + turn.generated,
                        finish_reason="cancelled" if should_stop() else "stop",
                        cached_tokens=min(cached, n_prompt), tool_calls=calls)

        return TurnResult(
            text=text,
            prompt_tokens=n_prompt,
            completion_tokens=n_out,
            finish_reason=finish,
            cached_tokens=min(cached, n_prompt),
            logprobs=recorder.tokens if recorder is not None else None,
        )

    def _sample(self, tokens: list[int], request: TurnRequest, extra: dict[str, Any],
                grammar: LlamaGrammar | None, gate: TextGate, on_text: Callable[[str], None],
                should_stop: Callable[[], bool], max_tokens: int, always: set[int],
                start: set[int], recorder: LogprobRecorder | None = None
                ) -> tuple[FinishReason, int, int | None]:
        """One sampling of the reply through `gate` (lock held): the finish reason, the tokens
        generated and the first of them. `always`: tokens never sampled; `start`: tokens not
        sampled while the reply shows nothing yet."""
        llm = self._llm
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        n_out = 0
        first: int | None = None
        finish: FinishReason = "length"
        pieces, eog = self._pieces, self._eog
        gen = llm.generate(
            tokens,
            temp=1.0 if request.temperature is None else float(request.temperature),
            top_p=1.0 if request.top_p is None else float(request.top_p),
            top_k=int(extra.get("top_k", 40)),
            min_p=float(extra.get("min_p", 0.05)),
            repeat_penalty=float(extra.get("repeat_penalty", 1.0)),
            frequency_penalty=request.controls.frequency_penalty,
            presence_penalty=request.controls.presence_penalty,
            logits_processor=_processors(request.controls.logit_bias, gate, always, start,
                                         recorder),
            grammar=grammar,
        )
        llm.abort = should_stop
        try:
            for token in gen:
                if first is None:
                    first = token
                if recorder is not None:
                    recorder.take(token)
                is_eog = eog.get(token)
                if is_eog is None:
                    is_eog = eog[token] = bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))
                if is_eog:
                    finish = "stop"
                    break
                n_out += 1
                if self._is_control(token):  # template structure, never text
                    shown = gate.control(self._token_text(token))
                    if shown:
                        on_text(shown)
                    finish = "stop"
                    break
                piece = pieces.get(token)
                if piece is None:
                    piece = pieces[token] = self._piece(token)
                text = decoder.decode(piece)
                if text:
                    shown = gate.feed(text)
                    if shown:
                        on_text(shown)
                    if gate.hit is not None:
                        finish = "stop"
                        break
                if n_out >= max_tokens:
                    finish = "length"
                    break
                if should_stop():
                    finish = "cancelled"
                    break
        except _Cancelled:
            finish = "cancelled"
        finally:
            gen.close()
            llm.abort = None
        tail = gate.finish()
        if tail:
            on_text(tail)
        return finish, n_out, first

    def _tool_turn(self, request: TurnRequest, tokens: list[int], fmt: CallFormat,
                   max_tokens: int, should_stop: Callable[[], bool]) -> ToolTurn:
        first_char = None
        if fmt.first_char_decision:
            if self._first_char is None:
                self._first_char = first_char_openers(self._llm, self._vocab)
            first_char = self._first_char
        return ToolTurn(self._llm, self._vocab, tokens, request.tools, should_stop, fmt,
                        max_tokens, self._token_text, first_char, request.call_temperature)

    def _tool_calls(self, request: TurnRequest, tokens: list[int], fmt: CallFormat,
                    max_tokens: int, should_stop: Callable[[], bool]
                    ) -> tuple[TurnResult | None, Decision | None]:
        """The calls this turn makes (None when the model answers instead), and the decision
        that chose to answer, if one was made (lock held)."""
        llm = self._llm
        self._prepare_kv(tokens, request.thread_id)
        self._kv_thread = request.thread_id
        llm.first_n_past = None
        turn = self._tool_turn(request, tokens, fmt, max_tokens, should_stop)
        choice = request.tool_choice
        forced = choice.get("name") if isinstance(choice, dict) else None
        calls: list[dict[str, str]] = []
        decision = None
        if not forced and choice != "required":
            decision = turn.decide()
        if decision is None or decision.call:
            calls = turn.calls(forced, request.parallel_tool_calls)
        if not calls:
            return None, decision
        n_prompt = len(tokens)
        return TurnResult(text="", prompt_tokens=n_prompt, completion_tokens=turn.generated,
                          finish_reason="cancelled" if should_stop() else "stop",
                          cached_tokens=min(llm.first_n_past or 0, n_prompt),
                          tool_calls=calls), decision

    def _is_control(self, token: int) -> bool:
        known = self._control.get(token)
        if known is None:
            known = self._control[token] = bool(llama_cpp.llama_vocab_is_control(self._vocab, token))
        return known

    def _token_text(self, token: int) -> str:
        """A token's text, control tokens spelled out (`<|python_tag|>`)."""
        text = self._texts.get(token)
        if text is None:
            raw = self._llm.detokenize([token], special=self._is_control(token))
            text = self._texts[token] = raw.decode("utf-8", errors="replace")
        return text

    def _single_opener_ids(self) -> set[int]:
        """Tokens that alone spell a call opener (Qwen's `<tool_call>`, Llama's
        `<|python_tag|>`)."""
        if self._opener_ids is None:
            ids = set()
            for opener in CALL_OPENERS:
                got = self._llm.tokenize(opener.encode(), add_bos=False, special=True)
                if len(got) == 1 and not llama_cpp.llama_vocab_is_eog(self._vocab, got[0]):
                    ids.add(got[0])
            self._opener_ids = ids
        return self._opener_ids

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(_PIECE_BUF)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, _PIECE_BUF, 0, False)
        if n < 0:  # longer than the buffer
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    # -- KV reuse -----------------------------------------------------------------------------

    def _prepare_kv(self, tokens: list[int], thread_id: str | None) -> None:
        """Makes the live context the best starting point for `tokens`: saves the live sequence
        if this turn is about to overwrite a worthwhile part of another conversation, and
        restores a cached state that shares a longer prefix with `tokens` than the live one."""
        llm = self._llm
        want = np.asarray(tokens, dtype=np.intc)
        live_n = llm.n_tokens
        live = _common_prefix(llm.input_ids[:live_n], want) if live_n else 0
        same_thread = thread_id is not None and thread_id == self._kv_thread
        if live_n - live >= MIN_SNAPSHOT_TOKENS and not same_thread:
            self._snapshot()
        best_key: tuple[int, ...] | None = None
        best_state: LlamaState | None = None
        best = 0
        for key, state in self._cache.cache_state.items():
            n = _common_prefix(state.input_ids, want)
            if n > best:
                best_key, best_state, best = key, state, n
        if best_key is not None and best_state is not None and best >= live + MIN_RESTORE_GAIN:
            self._cache.cache_state.move_to_end(best_key)
            self._restore(best_state)

    def _snapshot(self) -> None:
        llm = self._llm
        n = llm.n_tokens
        ctx = llm.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        if size > self._cache.capacity_bytes:
            return  # it would be evicted at once
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buf, size)
        if written <= 0 or written > size:
            return
        ids = llm.input_ids[:n].copy()
        # Only the token ids and the llama.cpp state: logits are not kept (logits_all=False and
        # a restored state always re-evaluates at least one token before sampling).
        state = LlamaState(
            input_ids=ids, scores=np.empty((0, 0), dtype=np.single), n_tokens=n,
            llama_state=buf, llama_state_size=written, seed=llm._seed,
        )
        key = tuple(ids.tolist())
        cache = self._cache.cache_state
        # An entry whose ids are a prefix of this one can never be the better match: drop it.
        for k in [k for k in cache if len(k) <= n and k == key[: len(k)]]:
            del cache[k]
        self._cache[key] = state

    def _restore(self, state: LlamaState) -> None:
        llm = self._llm
        if llama_cpp.llama_state_set_data(llm.ctx, state.llama_state, state.llama_state_size) \
                != state.llama_state_size:
            llm.reset()
            return
        n = state.n_tokens
        llm.input_ids[:n] = state.input_ids[:n]
        llm.n_tokens = n
        llm._requires_eval = True

    def cache_info(self) -> dict[str, int]:
        """The RAM state cache: entries and bytes (for logs and tests)."""
        return {"entries": len(self._cache.cache_state), "bytes": self._cache.cache_size,
                "capacity": self._cache.capacity_bytes, "live_tokens": self._llm.n_tokens}

    # -- structured output --------------------------------------------------------------------

    def _grammar(self, request: TurnRequest, max_tokens: int) -> LlamaGrammar | None:
        if request.json_schema is not None:
            schema = request.json_schema
            budget = quantize_budget(max_tokens)
            key: tuple[str | int, ...] = ("schema", json.dumps(schema, sort_keys=True), budget)
            build = lambda: json_schema_gbnf(schema, budget)  # noqa: E731
        elif request.json_object:
            budget = quantize_budget(max_tokens)
            key = ("object", budget)
            build = lambda: json_object_gbnf(budget)  # noqa: E731
        else:
            return None
        grammar = self._grammars.get(key)
        if grammar is None:
            gbnf = build()
            self._check_grammar(gbnf)
            grammar = LlamaGrammar.from_string(gbnf, verbose=False)
            self._grammars[key] = grammar
            while len(self._grammars) > 64:
                self._grammars.popitem(last=False)
        else:
            self._grammars.move_to_end(key)
        return grammar

    def _check_grammar(self, gbnf: str) -> None:
        sampler = llama_cpp.llama_sampler_init_grammar(
            self._vocab, gbnf.encode("utf-8"), b"root"
        )
        if not sampler:
            raise ValueError("The response format could not be compiled to a grammar.")
        llama_cpp.llama_sampler_free(sampler)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cache.cache_state.clear()
            self._llm.close()


# -- prompt helpers ---------------------------------------------------------------------------


def _set_seed(llm: Any, extra: dict[str, Any]) -> None:
    """The request's seed (`extra["seed"]`), else the default: sampling is reproducible."""
    seed = extra.get("seed")
    llm.set_seed(int(seed) if isinstance(seed, int) else DEFAULT_SEED)


def _merge_roles(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    merged: list[dict[str, str]] = []
    for m in messages:
        if merged and merged[-1]["role"] == m["role"]:
            merged[-1] = dict(merged[-1], content=merged[-1]["content"] + "\n\n" + m["content"])
        else:
            merged.append(dict(m))
    return merged


def _fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        if rest and rest[0]["role"] == "user":
            rest[0]["content"] = system + "\n\n" + rest[0]["content"]
        else:
            rest.insert(0, {"role": "user", "content": system})
    return rest


def _describe(tuner: ThreadTuner) -> str:
    if tuner.fixed:
        return f"{tuner.current} (fixed)"
    return "auto: " + " or ".join(map(str, tuner.choices)) + " by measured speed"


def _used_tools(request: TurnRequest) -> bool:
    """Tools are on offer, or were in this conversation: a reply opening with a bare
    `{"name": ...}` object is then a call (made, or refused), never text. Without tools it may
    be an answer (a user asking for JSON)."""
    return bool(request.tools) or any(
        m.get("role") == "tool" or m.get("tool_calls") for m in request.messages)


def _code_function(tools: Sequence[dict[str, Any]]) -> str | None:
    """The offered function that only runs Python code, if there is one."""
    for t in tools:
        if takes_code(t.get("parameters") or {}):
            return str(t["name"])
    return None


def _processors(bias: dict[int, float], gate: TextGate, always: set[int], start: set[int],
                recorder: LogprobRecorder | None) -> llama_cpp.LogitsProcessorList | None:
    """The client's logit_bias, then the bans, then the log-probability recorder; None when
    there is nothing to do."""
    steps: list[Callable[[Any, Any], Any]] = []
    if bias:
        ids = np.array(list(bias), dtype=np.int64)
        values = np.array(list(bias.values()), dtype=np.float32)

        def add_bias(_input_ids: Any, logits: Any) -> Any:
            logits[ids] += values
            return logits

        steps.append(add_bias)
    if ban := _bans(gate, always, start):
        steps.append(ban)
    if recorder is not None:
        steps.append(recorder.processor)
    return llama_cpp.LogitsProcessorList(steps) if steps else None


def _bans(gate: TextGate, always: set[int], start: set[int]
          ) -> Callable[[Any, Any], Any] | None:
    """A logits processor that keeps `always` from being sampled, and `start` while the reply
    shows nothing yet; None when there is nothing to ban."""
    if not always and not start:
        return None
    always_ids = np.array(sorted(always), dtype=np.int64)
    start_ids = np.array(sorted(always | start), dtype=np.int64)

    def ban(_input_ids: Any, logits: Any) -> Any:
        ids = start_ids if not gate.shown else always_ids
        if ids.size:
            logits[ids] = -np.inf
        return logits

    return ban


_find_stop = find_stop
_stop_prefix_len = stop_prefix_len
