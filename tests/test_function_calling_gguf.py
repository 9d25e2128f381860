"""Function calling on the real GGUF: arguments always parse and validate, whatever the model."""

from __future__ import annotations

import json

import jsonschema
import pytest

pytestmark = pytest.mark.slow

# The cookbook's quiz function, verbatim.
DISPLAY_QUIZ = {
    "name": "display_quiz",
    "description": "Displays a quiz to the student, and returns the student's response. A single "
                   "quiz can have multiple questions.",
    "parameters": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "questions": {
                "type": "array",
                "description": "An array of questions, each with a title and potentially options "
                               "(if multiple choice).",
                "items": {
                    "type": "object",
                    "properties": {
                        "question_text": {"type": "string"},
                        "question_type": {"type": "string",
                                          "enum": ["MULTIPLE_CHOICE", "FREE_RESPONSE"]},
                        "choices": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["question_text"],
                },
            },
        },
        "required": ["title", "questions"],
    },
}
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"},
                       "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["location", "unit"],
    },
}
SCHEMAS = {f["name"]: f["parameters"] for f in (DISPLAY_QUIZ, WEATHER)}


@pytest.fixture(scope="module")
def tutor(client):
    return client.beta.assistants.create(
        model="gpt-4o", instructions="You are a personal math tutor.",
        tools=[{"type": "function", "function": DISPLAY_QUIZ},
               {"type": "function", "function": WEATHER}])


@pytest.mark.parametrize("name,ask", [
    ("display_quiz", "Make me a quiz with two questions about fractions."),
    ("get_weather", "What's the weather in Tokyo, in celsius?"),
])
def test_forced_call_arguments_validate_then_the_run_answers(client, tutor, name, ask):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": ask}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=tutor.id, max_completion_tokens=1200,
        parallel_tool_calls=False, tool_choice={"type": "function", "function": {"name": name}})
    assert run.status == "requires_action", (run.status, run.last_error)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert calls and all(c.function.name == name for c in calls)
    for c in calls:
        jsonschema.validate(json.loads(c.function.arguments), SCHEMAS[name])
    # The model may call again after seeing outputs; airlock bounds the rounds, then it answers.
    for _ in range(10):
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id,
            tool_outputs=[{"tool_call_id": c.id, "output": "Done: the student answered 3/4."}
                          for c in run.required_action.submit_tool_outputs.tool_calls])
        if run.status != "requires_action":
            break
        for c in run.required_action.submit_tool_outputs.tool_calls:
            jsonschema.validate(json.loads(c.function.arguments), SCHEMAS[c.function.name])
    assert run.status in ("completed", "incomplete"), (run.status, run.last_error)
    (msg,) = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert msg.role == "assistant" and msg.content[0].text.value.strip()


def test_required_picks_a_declared_function(client, tutor):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Is it raining in Lima?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=tutor.id, tool_choice="required", parallel_tool_calls=False)
    assert run.status == "requires_action"
    (c,) = run.required_action.submit_tool_outputs.tool_calls
    jsonschema.validate(json.loads(c.function.arguments), SCHEMAS[c.function.name])
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


def test_tool_choice_none_never_calls(client, tutor):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What's the weather in Paris?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=tutor.id, tool_choice="none", max_completion_tokens=48)
    assert run.status in ("completed", "incomplete") and run.required_action is None
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
