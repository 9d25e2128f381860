"""Chat Completions on the real models, through the strict client: SmolLM2-135M (the default)
and Qwen2.5-Coder-0.5B (native tool format). Greedy decoding (temperature 0) makes each check
repeatable: a stop string cuts the reply the model would otherwise give, a banned token changes
its first word, log probabilities name the token that was chosen."""

from __future__ import annotations

import json

import llama_cpp
import pytest
from pydantic import BaseModel

from airlock.models.registry import embedded_gguf
from tests.qwen import MARKUP, WEATHER, qwen_path

pytestmark = pytest.mark.slow
QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Name three colours of the rainbow."}]


@pytest.fixture(scope="module")
def qwen(start_server):
    c = start_server("chat-qwen", "--model", str(qwen_path())).client()
    yield c
    c.close()


@pytest.fixture(scope="module", params=["smollm2", "qwen"])
def family(request, client, qwen):
    """The client, and the GGUF it serves (for its tokenizer)."""
    if request.param == "smollm2":
        return client, embedded_gguf()
    return qwen, qwen_path()


@pytest.fixture(scope="module")
def model(family):
    return family[0]


def greedy(c, **kw):
    kw.setdefault("messages", QUESTION)
    return c.chat.completions.create(model="gpt-4o-mini", temperature=0, seed=7, **kw)


def no_markup(text: str) -> None:
    for marker in MARKUP:
        assert marker not in text, (marker, text)


def test_a_reply_and_a_stream_with_usage(model):
    whole = greedy(model, max_tokens=40)
    text = whole.choices[0].message.content
    assert text.strip() and whole.usage.completion_tokens > 0
    no_markup(text)
    chunks = list(greedy(model, max_tokens=40, stream=True,
                         stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    streamed = "".join(pieces)
    assert streamed.strip()
    no_markup(streamed)
    # Each piece is the text of one token or more (held-back text comes out together).
    assert 0 < len(pieces) <= chunks[-1].usage.completion_tokens <= 40


def test_max_tokens_cuts_with_length(model):
    r = greedy(model, max_completion_tokens=3)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3


def test_logprobs_are_real_distributions(model):
    r = greedy(model, max_tokens=8, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for t in content:
        top = [a.logprob for a in t.top_logprobs]
        assert len(top) == 3 and top == sorted(top, reverse=True) and top[0] <= 0
        # Greedy picks among the likeliest (the repeat penalty may prefer the second).
        assert t.token in [a.token for a in t.top_logprobs]
        assert t.logprob == next(a.logprob for a in t.top_logprobs if a.token == t.token)
    assert "".join(t.token for t in content).strip() == r.choices[0].message.content.strip()


def test_a_stop_string_ends_the_reply_before_it(model):
    ask = [{"role": "user", "content": "List three colours, separated by commas."}]
    r = greedy(model, messages=ask, max_tokens=40, stop=[","]).choices[0]
    assert r.message.content.strip() and "," not in r.message.content
    assert r.finish_reason == "stop"


def test_logit_bias_bans_a_token(family):
    model, path = family
    first = greedy(model, max_tokens=4, logprobs=True).choices[0].logprobs.content[0]
    vocab = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    (token_id,) = vocab.tokenize(bytes(first.bytes), add_bos=False, special=False)
    banned = greedy(model, max_tokens=4, logprobs=True,
                    logit_bias={str(token_id): -100}).choices[0]
    assert banned.logprobs.content[0].token != first.token


class Colours(BaseModel):
    colours: list[str]


def test_parse_returns_the_pydantic_model(model):
    r = model.chat.completions.parse(
        model="gpt-4o-mini", temperature=0, messages=QUESTION, response_format=Colours)
    parsed = r.choices[0].message.parsed
    assert isinstance(parsed, Colours)
    assert Colours.model_validate_json(r.choices[0].message.content) == parsed


def test_a_required_tool_call_has_valid_arguments(model):
    r = greedy(model, messages=[{"role": "user", "content": "What's the weather in Oslo?"}],
               tools=[{"type": "function", "function": WEATHER}], tool_choice="required")
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)


def test_qwen_calls_then_answers_from_the_output(qwen):
    messages = [{"role": "system", "content": "You are a weather bot. Use the functions."},
                {"role": "user", "content": "What's the weather in Oslo right now?"}]
    tools = [{"type": "function", "function": WEATHER}]
    # The model's own sampling defaults, as runs use them: greedy decoding makes Qwen restate
    # the call instead of answering (the text gate then ends the reply before the call).
    def ask(**kw):
        return qwen.chat.completions.create(model="gpt-4o-mini", seed=7, **kw)

    first = ask(messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message.content
    (call,) = choice.message.tool_calls
    assert json.loads(call.function.arguments)["city"].lower() == "oslo"
    messages += [choice.message, {"role": "tool", "tool_call_id": call.id,
                                  "content": '{"temperature_c": -3, "sky": "snow"}'}]
    answer = ask(messages=messages, tools=tools).choices[0]
    assert answer.finish_reason == "stop"
    no_markup(answer.message.content)
    assert "-3" in answer.message.content or "snow" in answer.message.content.lower()
