"""A small Assistants-based app, written as a team would: the code the plugin's tests test.

- `WeatherBot`: an assistant with a `get_weather` function; each question runs a thread and
  answers `requires_action` by calling the local Python function.
- `HandbookBot`: a file_search assistant over an uploaded handbook, answering with citations.

It builds its client from OPENAI_BASE_URL / OPENAI_API_KEY unless it is given one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}


class AppError(RuntimeError):
    """A run did not complete."""


def get_weather(city: str) -> dict[str, Any]:
    """The app's own data source (a real app would call a weather service)."""
    return {"city": city, "temperature_c": {"Paris": 21, "Oslo": 4}.get(city, 15)}


def last_answer(client: openai.OpenAI, thread_id: str) -> Any:
    """The newest assistant message's text part."""
    message = client.beta.threads.messages.list(thread_id, order="desc", limit=1).data[0]
    return message.content[0].text


@dataclass
class Conversation:
    bot: WeatherBot
    thread_id: str
    weather_lookups: list[str] = field(default_factory=list)

    def ask(self, question: str) -> str:
        client = self.bot.client
        client.beta.threads.messages.create(self.thread_id, role="user", content=question)
        run = client.beta.threads.runs.create_and_poll(thread_id=self.thread_id,
                                                       assistant_id=self.bot.assistant_id)
        while run.status == "requires_action":
            outputs = []
            for call in run.required_action.submit_tool_outputs.tool_calls:
                args = json.loads(call.function.arguments)
                self.weather_lookups.append(args["city"])
                outputs.append({"tool_call_id": call.id, "output": json.dumps(get_weather(**args))})
            run = client.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id, thread_id=self.thread_id, tool_outputs=outputs)
        if run.status != "completed":
            raise AppError(f"run {run.status}: {run.last_error.message if run.last_error else ''}")
        return last_answer(client, self.thread_id).value


class WeatherBot:
    def __init__(self, client: openai.OpenAI | None = None, model: str = "gpt-4o"):
        self.client = client or openai.OpenAI()
        self.assistant_id = self.client.beta.assistants.create(
            model=model, name="Weather", instructions="Answer with the current weather.",
            tools=[WEATHER_TOOL]).id

    def start(self) -> Conversation:
        return Conversation(self, self.client.beta.threads.create().id)

    def ask(self, question: str) -> str:
        return self.start().ask(question)


@dataclass
class Answer:
    text: str
    # (the marker in the text, the cited file's id)
    citations: list[tuple[str, str]]


class HandbookBot:
    def __init__(self, handbook: Path, client: openai.OpenAI | None = None, model: str = "gpt-4o"):
        self.client = client or openai.OpenAI()
        store = self.client.vector_stores.create(name="handbook")
        with open(handbook, "rb") as f:
            self.client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=f)
        self.vector_store_id = store.id
        self.assistant_id = self.client.beta.assistants.create(
            model=model, name="Handbook", instructions="Answer from the handbook and cite it.",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}}).id

    def ask(self, question: str) -> Answer:
        run = self.client.beta.threads.create_and_run_poll(
            assistant_id=self.assistant_id,
            thread={"messages": [{"role": "user", "content": question}]})
        if run.status != "completed":
            raise AppError(f"run {run.status}: {run.last_error.message if run.last_error else ''}")
        text = last_answer(self.client, run.thread_id)
        return Answer(text.value, [(a.text, a.file_citation.file_id) for a in text.annotations
                                   if a.type == "file_citation"])
