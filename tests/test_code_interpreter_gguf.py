"""code_interpreter on the real GGUF: the model writes code (grammar-bound JSON), the jailed
kernel runs it, and the step holds input and outputs, whatever the code's quality."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_forced_code_interpreter_run_has_input_and_outputs(client):
    assistant = client.beta.assistants.create(
        model="gpt-4o", instructions="You are a personal math tutor. Write and run code.",
        tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{
        "role": "user", "content": "Generate the first 20 fibonacci numbers with code."}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        tool_choice={"type": "code_interpreter"}, max_completion_tokens=300)
    assert run.status in ("completed", "incomplete"), run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert steps[0].type == "tool_calls" and steps[0].status == "completed"
    (call,) = steps[0].step_details.tool_calls
    assert call.type == "code_interpreter"
    assert call.code_interpreter.input.strip()
    # Whatever the code does, the step reports what the kernel said (output, or a traceback);
    # a cell that prints nothing has no outputs, as on the real API.
    outputs = call.code_interpreter.outputs
    assert isinstance(outputs, list) and all(o.type in ("logs", "image") for o in outputs)
    assert steps[0].usage.completion_tokens > 0
    assert run.usage.total_tokens >= steps[0].usage.total_tokens
