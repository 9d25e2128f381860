"""Remote model entries in the models config: what is accepted, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock.models.registry import ModelConfigError, load_models_config
from airlock.models.remote import _call_name, _opens_call


def load(tmp_path: Path, body: str):
    path = tmp_path / "models.toml"
    path.write_text(body)
    return load_models_config(path)


def test_a_remote_entry_and_its_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("BIG_KEY", "sk-test")
    _, (entry,) = load(tmp_path, """
[models.big]
base_url = "http://gpu:8080/v1/"
model = "qwen2.5-7b"
api_key_env = "BIG_KEY"
n_ctx = 8192
top_k = 20
temperature = 0.5
""")
    assert entry.kind == "remote" and entry.path is None and entry.n_ctx == 8192
    spec = entry.remote
    assert (spec.base_url, spec.model, spec.api_key, spec.constrain) == (
        "http://gpu:8080/v1", "qwen2.5-7b", "sk-test", "grammar")
    assert spec.sampler_keys == ("top_k",)  # temperature/top_p always go; others only when set
    assert entry.sampling.temperature == 0.5


def test_the_remote_model_name_defaults_to_the_entry_name(tmp_path):
    _, (entry,) = load(tmp_path, '[models.llama3]\nbase_url = "https://h/v1"\n')
    assert entry.remote.model == "llama3" and entry.remote.api_key is None


@pytest.mark.parametrize("body, says", [
    ('base_url = "gpu:8080"', "http:// or https://"),
    ('base_url = "http://h"\nconstrain = "regex"', "'constrain' must be one of"),
    ('base_url = "http://h"\npath = "x.gguf"', "cannot be set for a remote model"),
    ('base_url = "http://h"\ntimeout = 0', "'timeout'"),
    ('base_url = "http://h"\ncall_threshold = 1.5', "'call_threshold'"),
    ('base_url = "http://h"\napi_key = "a"\napi_key_env = "B"', "not both"),
    ('base_url = "http://h"\napi_key_env = "AIRLOCK_TEST_UNSET_KEY"', "is not set"),
    ('path = "x.gguf"\nmodel = "m"', "only for remote models"),
])
def test_bad_remote_entries_are_refused(tmp_path, body, says):
    with pytest.raises(ModelConfigError, match=says):
        load(tmp_path, f"[models.r]\n{body}\n")


def test_call_openers_are_held_until_known():
    assert _opens_call("  <tool") is None
    assert _opens_call('<tool_call>\n{"name"') is True
    assert _opens_call('{ "name": "f"') is True
    assert _opens_call("Sure") is False
    assert _opens_call("<b>") is False


def test_a_name_repeated_in_every_chunk_is_kept_once():
    offered = {"get", "get_weather"}
    name = ""
    for piece in ["get_weather", "get_weather", "get_weather"]:
        name = _call_name(name, piece, offered)
    assert name == "get_weather"
    assert _call_name(_call_name("", "get", offered), "_weather", offered) == "get_weather"


def test_airlock_models_lists_a_remote_entry_by_its_server(tmp_path, capsys):
    from airlock.cli import main

    config = tmp_path / "models.toml"
    config.write_text('default = "big"\n[models.big]\nbase_url = "http://gpu:8080/v1"\n')
    main(["models", "--models-config", str(config)])
    assert "* big\thttp://gpu:8080/v1" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("constrain, key", [("grammar", "grammar"), ("json_schema", "response_format"),
                                             ("tools", "response_format")])
def test_each_constrain_mode_asks_the_server_in_its_own_terms(constrain, key):
    from airlock.models.backend import TurnRequest
    from airlock.models.remote import RemoteBackend

    backend = RemoteBackend("m", "http://h/v1", "m", constrain=constrain)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    request = TurnRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=64,
                          json_schema=schema)
    body = backend._body(request)
    backend._constrain(body, request)
    assert key in body and not ({"grammar", "response_format"} - {key}) & set(body)
    if constrain == "grammar":
        assert "root ::=" in body["grammar"]
    else:
        assert body["response_format"] == {"type": "json_schema",
                                           "json_schema": {"name": "reply", "schema": schema}}
    backend.close()
