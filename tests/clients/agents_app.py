"""An OpenAI Agents SDK app pointed at airlock's Responses and Conversations APIs: run with the
agents venv's python (scripts/install.sh), `python agents_app.py BASE_URL STEP`; prints the
step's result as one JSON line for the test to check.

Offline settings an app needs (README): tracing off (`set_tracing_disabled(True)`, else the SDK
posts traces to api.openai.com), airlock's client as the default
(`set_default_openai_client(AsyncOpenAI(base_url=..., api_key="x"), use_for_tracing=False)`),
the Responses API (`set_default_openai_api("responses")`) and a model name on each Agent.
"""

from __future__ import annotations

import asyncio
import json
import sys

from agents import (
    Agent,
    CodeInterpreterTool,
    FileSearchTool,
    ModelSettings,
    OpenAIConversationsSession,
    Runner,
    function_tool,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel

MODEL = "gpt-4o-mini"
# What the tool received, call by call, so the test sees the arguments the model produced.
weather_calls: list[dict[str, str]] = []


@function_tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    weather_calls.append({"city": city})
    return f"3 degrees in {city}"


class City(BaseModel):
    name: str
    country: str


def usage(result) -> dict[str, int]:
    u = result.context_wrapper.usage
    return {"requests": u.requests, "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens}


def summary(item: dict) -> dict:
    """A session item as the test compares it: its type, and its role and text or call."""
    if item.get("type", "message") == "message":  # an easy input message has no type
        content = item["content"]
        text = content if isinstance(content, str) else "".join(
            c.get("text", "") for c in content)
        return {"type": "message", "role": item["role"], "text": text}
    if item["type"] == "function_call":
        return {"type": "function_call", "name": item["name"],
                "arguments": json.loads(item["arguments"])}
    if item["type"] == "function_call_output":
        return {"type": "function_call_output", "output": item["output"]}
    return {"type": item.get("type")}


async def main(base_url: str, step: str, arg: str = "") -> object:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    set_default_openai_client(client, use_for_tracing=False)
    set_default_openai_api("responses")
    agent = Agent(name="Assistant", instructions="You are a helpful assistant. Be brief.",
                  model=MODEL)
    weather = Agent(name="Weather", instructions="Answer weather questions with the tool.",
                    model=MODEL, tools=[get_weather])
    # The real model: greedy decoding keeps its answers the same from run to run, and the SDK
    # raises on an incomplete response, so the budget leaves room.
    real = ModelSettings(temperature=0, max_tokens=256)
    if step == "tool":
        result = await Runner.run(weather, "What is the weather in Oslo?")
        return {"calls": weather_calls, "final": result.final_output,
                "items": [i.type for i in result.new_items], "usage": usage(result),
                "response_ids": [r.response_id for r in result.raw_responses]}
    if step == "stream":
        result = Runner.run_streamed(agent, "Count to three.")
        deltas = [event.data.delta async for event in result.stream_events()
                  if event.type == "raw_response_event"
                  and isinstance(event.data, ResponseTextDeltaEvent)]
        return {"deltas": deltas, "final": result.final_output,
                "response_id": result.last_response_id}
    if step == "stream_tool":
        result = Runner.run_streamed(weather, "What is the weather in Oslo?")
        events = [event.data.type if event.type == "raw_response_event" else event.name
                  async for event in result.stream_events()
                  if event.type != "agent_updated_stream_event"]
        return {"calls": weather_calls, "final": result.final_output, "events": events}
    if step == "chain":
        first = await Runner.run(agent, "My name is Ada.")
        second = await Runner.run(agent, "What is my name?",
                                  previous_response_id=first.last_response_id)
        return {"finals": [first.final_output, second.final_output],
                "response_ids": [first.last_response_id, second.last_response_id],
                "usage": [usage(first), usage(second)]}
    if step == "input_list":
        # The SDK's manual multi-turn pattern: the first run's items (the call and the answer
        # keep the ids the server gave them) plus the next question, sent whole.
        first = await Runner.run(weather, "What is the weather in Oslo?")
        second = await Runner.run(weather, first.to_input_list() + [
            {"role": "user", "content": "Should I take a coat?"}])
        return {"calls": weather_calls, "finals": [first.final_output, second.final_output],
                "response_ids": [first.last_response_id, second.last_response_id]}
    if step == "conversation":
        # A conversation the server keeps: each run sends only its new input with
        # conversation=..., and the server appends the run's items to it.
        conversation = await client.conversations.create()
        first = await Runner.run(weather, "What is the weather in Oslo?",
                                 conversation_id=conversation.id)
        second = await Runner.run(weather, "Should I take a coat?",
                                  conversation_id=conversation.id)
        return {"conversation_id": conversation.id, "calls": weather_calls,
                "finals": [first.final_output, second.final_output],
                "response_ids": [first.last_response_id, second.last_response_id]}
    if step == "session":
        # The first run calls the tool, so the session holds a call and its output too; the
        # second run re-sends everything the session lists as its input.
        session = OpenAIConversationsSession()
        first = await Runner.run(weather, "What is the weather in Oslo?", session=session)
        second = await Runner.run(weather, "Should I take a coat?", session=session)
        items = await session.get_items()
        return {"conversation_id": session.session_id, "calls": weather_calls,
                "finals": [first.final_output, second.final_output],
                "response_ids": [first.last_response_id, second.last_response_id],
                "items": [summary(i) for i in items]}
    if step == "real":
        short = Agent(name="Assistant", instructions="Answer in one short sentence.",
                      model=MODEL, model_settings=real)
        result = await Runner.run(short, "What is the capital of France?")
        return {"final": result.final_output, "response_id": result.last_response_id}
    if step == "real_structured":
        # output_type: the SDK asks for a strict JSON schema and parses the answer with it.
        city = Agent(name="Geography", instructions="Answer with the city.", model=MODEL,
                     output_type=City, model_settings=real)
        result = await Runner.run(city, "Which city is the capital of France?")
        return {"final": result.final_output.model_dump()}
    if step == "real_tool":
        # The real model must call the tool (its arguments come from the tool's schema as a
        # grammar); the SDK then resets tool_choice so the next turn can answer in text.
        forced = weather.clone(
            instructions="Answer weather questions with the tool, in one sentence.",
            model_settings=real.resolve(ModelSettings(tool_choice="required")))
        result = await Runner.run(forced, "What is the weather in Oslo?")
        return {"calls": weather_calls, "final": result.final_output,
                "items": [i.type for i in result.new_items]}
    if step == "file_search":
        # The SDK's hosted FileSearchTool on the user's vector store (`arg`): airlock runs it.
        docs = Agent(name="Docs", instructions="Answer from the files.", model=MODEL,
                     tools=[FileSearchTool(vector_store_ids=[arg], include_search_results=True)])
        result = await Runner.run(docs, "Who invented the Zorblax engine?")
        return {"final": result.final_output, "items": [i.type for i in result.new_items],
                "response_id": result.last_response_id}
    if step == "code_interpreter":
        # The SDK's CodeInterpreterTool with an auto container, as its example configures it.
        coder = Agent(name="Coder", instructions="Compute with Python.", model=MODEL,
                      tools=[CodeInterpreterTool(tool_config={
                          "type": "code_interpreter", "container": {"type": "auto"}})])
        result = Runner.run_streamed(coder, "What is 6 times 7?")
        events = [event.data.type async for event in result.stream_events()
                  if event.type == "raw_response_event"]
        return {"final": result.final_output, "events": events,
                "items": [i.type for i in result.new_items],
                "response_id": result.last_response_id}
    raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))
