"""Sampling defaults per model: a run that sets no temperature/top_p gets its model's, and
reports them; the request's, then the assistant's, win."""

from __future__ import annotations

from airlock.models.registry import embedded_gguf
from runs_helpers import wait_run


def start(client, assistant, **kwargs):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                          max_completion_tokens=16, **kwargs)
    wait_run(client, thread.id, run.id, lambda r: r.status not in ("queued", "in_progress"))
    return run


def test_the_model_defaults_fill_what_nobody_set(client):
    assistant = client.beta.assistants.create(model="gpt-4o")
    assert (assistant.temperature, assistant.top_p) == (1.0, 1.0)  # as the API shows it
    run = start(client, assistant)
    assert (run.temperature, run.top_p) == (0.2, 0.9)  # SmolLM2's own settings


def test_the_request_then_the_assistant_win(client):
    assistant = client.beta.assistants.create(model="gpt-4o", temperature=0.5)
    assert start(client, assistant).temperature == 0.5
    assert start(client, assistant, temperature=0.3, top_p=0.7).top_p == 0.7
    updated = client.beta.assistants.update(assistant.id, temperature=None)
    assert updated.temperature == 1.0 and start(client, updated).temperature == 0.2


def test_models_config_sets_the_defaults(start_server, tmp_path):
    config = tmp_path / "models.toml"
    config.write_text(f'[models.smol]\npath = "{embedded_gguf()}"\ntemperature = 0.4\n'
                      f"top_p = 0.5\nrepeat_penalty = 1.2\n")
    server = start_server("sampling-config", "--models-config", str(config))
    client = server.client()
    assistant = client.beta.assistants.create(model="smol")
    run = start(client, assistant)
    assert (run.temperature, run.top_p) == (0.4, 0.5)
