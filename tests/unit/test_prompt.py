"""Prompt budgeting, fitting and truncation (airlock/engine/core/prompt.py) with a word-counting
fake backend, so every expected token count can be worked out by hand."""

from __future__ import annotations

import pytest

from airlock.engine.core.items import BuiltinCall
from airlock.engine.core.prompt import PromptTooLong, budget, fit, render, reply_limit
from airlock.engine.turn import message_text, round_items

PER_MESSAGE = 4
PER_TOOL = 10


class WordBackend:
    """n_ctx, and a token count of words + 4 per message (+ 10 per tool when tools are on)."""

    name = "words"

    def __init__(self, n_ctx: int = 4096):
        self.n_ctx = n_ctx

    def count_tokens(self, messages, tools=(), tool_choice="none"):
        words = sum(len(m["content"].split()) + PER_MESSAGE for m in messages)
        return words + (PER_TOOL * len(tools) if tool_choice != "none" else 0)


def msg(role: str, words: int, tag: str = "w") -> dict[str, str]:
    return {"role": role, "content": " ".join(f"{tag}{i}" for i in range(words))}


def tokens(messages) -> int:
    return WordBackend().count_tokens(messages)


# --- budget and reply limit -----------------------------------------------------------------------


@pytest.mark.parametrize("n_ctx, max_prompt, max_completion, spent, expected", [
    (4096, None, None, 0, (4096 - 1024, None)),  # default reply room
    (2048, None, None, 0, (2048 - 512, None)),  # a quarter of a small context
    (4096, 1000, None, 0, (1000, None)),  # max_prompt_tokens caps the prompt
    (4096, 3500, None, 0, (3072, None)),  # ... but never takes the reply's room
    (4096, None, 500, 0, (3596, 500)),  # the run's completion cap is the reply's room
    (4096, None, 500, 120, (3716, 380)),  # earlier turns spent part of it
    (4096, None, 500, 500, (4096, 0)),
    (4096, None, 500, 900, (4096, 0)),  # overspent: nothing left, never negative
    (4096, 2000, 500, 100, (2000, 400)),
])
def test_budget(n_ctx, max_prompt, max_completion, spent, expected):
    assert budget(n_ctx, max_prompt, max_completion, spent) == expected


def test_max_completion_tokens_beyond_the_context_leaves_room_for_a_prompt():
    # A cap at or above n_ctx must not leave the prompt no room (every run would fail as
    # "prompt too long").
    prompt_budget, remaining = budget(4096, None, 8192, 0)
    assert remaining == 8192
    fitted, used = fit(WordBackend(4096), "Be brief.", [msg("user", 5)], budget=prompt_budget)
    assert used == (2 + 4) + (5 + 4)
    assert len(fitted) == 2


@pytest.mark.parametrize("n_ctx, prompt_tokens, remaining, expected", [
    (4096, 1000, None, 3096),  # what the context has left
    (4096, 1000, 50, 50),  # within the run's cap
    (4096, 4000, 500, 96),  # the context is the tighter limit
    (4096, 4096, None, 1),  # at least one token
    (4096, 5000, None, 1),
])
def test_reply_limit(n_ctx, prompt_tokens, remaining, expected):
    assert reply_limit(n_ctx, prompt_tokens, remaining) == expected


# --- fit ------------------------------------------------------------------------------------------


HISTORY = [msg("user", 10, "a"), msg("assistant", 20, "b"), msg("user", 5, "c"),
           msg("assistant", 30, "d"), msg("user", 8, "e")]
SYSTEM = {"role": "system", "content": "Answer in one line."}  # 4 words: 8 tokens


def test_fit_keeps_everything_that_fits():
    full = tokens([SYSTEM, *HISTORY])
    assert full == 8 + 14 + 24 + 9 + 34 + 12
    assert fit(WordBackend(), SYSTEM["content"], HISTORY, budget=full) == ([SYSTEM, *HISTORY], full)


def test_fit_without_instructions_has_no_system_message():
    assert fit(WordBackend(), "", HISTORY[:2], budget=100) == (HISTORY[:2], 14 + 24)


@pytest.mark.parametrize("budget_", range(8 + 12, 8 + 14 + 24 + 9 + 34 + 12 + 2))
def test_fit_drops_the_fewest_oldest_messages(budget_):
    messages, used = fit(WordBackend(), SYSTEM["content"], HISTORY, budget=budget_)
    drop = next(k for k in range(len(HISTORY)) if tokens([SYSTEM, *HISTORY[k:]]) <= budget_)
    assert messages == [SYSTEM, *HISTORY[drop:]]
    assert used == tokens(messages) <= budget_


def test_fit_passes_tools_to_the_count():
    tools = [{"name": "f"}, {"name": "g"}]
    fitted, used = fit(WordBackend(), "", HISTORY[-1:], budget=100, tools=tools,
                       tool_choice="auto")
    assert used == 12 + 2 * PER_TOOL
    # The tools' tokens count against the budget: the oldest message goes.
    fitted, used = fit(WordBackend(), "", HISTORY[-2:], budget=34 + 12 + 19, tools=tools,
                       tool_choice="auto")
    assert fitted == HISTORY[-1:] and used == 32


def test_newest_message_alone_too_big():
    with pytest.raises(PromptTooLong) as err:
        fit(WordBackend(), SYSTEM["content"], HISTORY, budget=8 + 11)
    assert (err.value.tokens, err.value.budget) == (8 + 12, 8 + 11)
    assert "20 tokens" in str(err.value) and "budget is 19" in str(err.value)


def test_single_message_too_big():
    with pytest.raises(PromptTooLong) as err:
        fit(WordBackend(), "", [msg("user", 50)], budget=53)
    assert (err.value.tokens, err.value.budget) == (54, 53)


def test_instructions_alone_too_big():
    assert fit(WordBackend(), "", [], budget=0) == ([], 0)
    with pytest.raises(PromptTooLong) as err:
        fit(WordBackend(), SYSTEM["content"], [], budget=7)
    assert err.value.tokens == 8


def test_last_messages_keeps_only_the_newest():
    fitted, used = fit(WordBackend(), SYSTEM["content"], HISTORY, budget=10_000, last_messages=2)
    assert fitted == [SYSTEM, *HISTORY[-2:]] and used == 8 + 34 + 12
    fitted, _ = fit(WordBackend(), "", HISTORY, budget=10_000, last_messages=99)
    assert fitted == HISTORY


def test_last_messages_then_budget():
    fitted, _ = fit(WordBackend(), "", HISTORY, budget=12 + 34, last_messages=3)
    assert fitted == HISTORY[-2:]
    with pytest.raises(PromptTooLong):
        fit(WordBackend(), "", HISTORY, budget=11, last_messages=3)


def test_last_messages_counts_thread_messages_not_tool_rounds(make_record):
    # As on OpenAI, last_messages counts thread messages: the run's tool rounds stay with the
    # question they answer.
    thread = [msg("user", 3, "old"), msg("assistant", 3, "ans"), msg("user", 4, "q")]
    rounds = render(round_items([{"step_details": {"tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": "{}", "output": "42"}}]}}], make_record()))
    fitted, _ = fit(WordBackend(), "", thread + rounds, budget=10_000, last_messages=1)
    assert fitted == [thread[-1], *rounds]


# --- tool rounds ----------------------------------------------------------------------------------


def test_function_rounds_render_as_calls_then_their_outputs(make_record):
    steps = [
        {"step_details": {"type": "tool_calls", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}', "output": "cold"}},
            {"id": "call_2", "type": "function",
             "function": {"name": "time", "arguments": "{}", "output": None}}]}},
        {"step_details": {"type": "tool_calls", "tool_calls": [
            {"id": "call_3", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Rome"}', "output": "warm"}}]}},
    ]
    assert render(round_items(steps, make_record())) == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "name": "weather", "arguments": '{"city": "Oslo"}'},
            {"id": "call_2", "name": "time", "arguments": "{}"}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "weather", "content": "cold"},
        {"role": "tool", "tool_call_id": "call_2", "name": "time", "content": ""},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_3", "name": "weather", "arguments": '{"city": "Rome"}'}]},
        {"role": "tool", "tool_call_id": "call_3", "name": "weather", "content": "warm"},
    ]


def test_builtin_rounds_render_what_the_model_wrote_and_read(make_record):
    steps = [{"step_details": {"type": "tool_calls", "tool_calls": [
        {"id": "call_fs", "type": "file_search",
         "file_search": {"ranking_options": {}, "results": []}},
        {"id": "call_ci", "type": "code_interpreter",
         "code_interpreter": {"input": "print(1)", "outputs": []}}]}}]
    run = make_record(params={"tool_io": {"call_fs": BuiltinCall(
        call_id="call_fs", name="file_search", arguments='{"query": "llamas"}',
        output="【0:0†a.txt】 Llamas hum.").model_dump()}})
    # Each built-in call is its own round: the call, then what the engine gave back.
    assert render(round_items(steps, run)) == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_fs", "name": "file_search", "arguments": '{"query": "llamas"}'}]},
        {"role": "tool", "tool_call_id": "call_fs", "name": "file_search",
         "content": "【0:0†a.txt】 Llamas hum."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_ci", "name": "code_interpreter", "arguments": "{}"}]},
        {"role": "tool", "tool_call_id": "call_ci", "name": "code_interpreter", "content": ""},
    ]
    assert render(round_items([], run)) == []


# --- message text ---------------------------------------------------------------------------------


def test_message_text_renders_every_part():
    message = {"role": "user", "content": [
        {"type": "text", "text": {"value": "Look:", "annotations": []}},
        {"type": "image_file", "image_file": {"file_id": "file-abc", "detail": "auto"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        {"type": "refusal", "refusal": "I can't."},
        {"type": "text", "text": {"value": "Thanks.", "annotations": []}},
    ]}
    assert message_text(message) == (
        "Look:\n[image file file-abc]\n[image https://x.test/a.png]\nI can't.\nThanks.")
    assert message_text({"content": []}) == ""


def test_messages_keep_roles_and_order_and_developer_is_system():
    from airlock.engine.core.items import Message

    assert render([Message("developer", "Be brief."), Message("user", "Hi"),
                   Message("assistant", "Hello")]) == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"}]
