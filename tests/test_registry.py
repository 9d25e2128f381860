"""The model registry: embedded default, `scripted`, TOML config, --model, resolve, backends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from airlock.models.registry import (
    DEFAULT_MODEL_NAME,
    ModelConfigError,
    ModelEntry,
    ModelLoadError,
    ModelNotFound,
    Registry,
    embedded_gguf,
)


def fake_gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF\x03\x00\x00\x00")
    return path


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class FakeBackend:
    n_ctx = 100

    def __init__(self, name: str = "scripted"):
        self.name = name
        self.closed = 0

    def count_tokens(self, messages):
        return len(messages)

    def generate(self, request, on_text, should_stop):  # pragma: no cover - not driven here
        raise NotImplementedError

    def close(self):
        self.closed += 1


# -- building ---------------------------------------------------------------------------------


def test_default_registry_has_the_embedded_model_and_scripted():
    reg = Registry.load(None, None)
    assert reg.default == DEFAULT_MODEL_NAME
    entries = reg.entries()
    assert entries[0].name == DEFAULT_MODEL_NAME  # default first
    by_name = {e.name: e for e in entries}
    assert set(by_name) == {DEFAULT_MODEL_NAME, "scripted"}
    smol = by_name[DEFAULT_MODEL_NAME]
    assert smol.kind == "gguf" and smol.path == embedded_gguf()
    assert (smol.n_ctx, smol.n_threads, smol.chat_template) == (4096, None, None)
    assert smol.created > 0
    scripted = by_name["scripted"]
    assert scripted.kind == "scripted" and scripted.path is None and scripted.created == 0


def test_model_scripted_becomes_the_default():
    reg = Registry.load("scripted", None)
    assert reg.default == "scripted"
    assert reg.entries()[0].name == "scripted"
    assert DEFAULT_MODEL_NAME in {e.name for e in reg.entries()}


def test_model_option_with_a_gguf_path(tmp_path):
    gguf = fake_gguf(tmp_path / "weights" / "Tiny-Model.Q4.gguf")
    reg = Registry.load(str(gguf), None)
    assert reg.default == "Tiny-Model.Q4"
    entry = reg.get("Tiny-Model.Q4")
    assert entry.path == gguf.resolve() and entry.kind == "gguf"
    assert {e.name for e in reg.entries()} == {"Tiny-Model.Q4", DEFAULT_MODEL_NAME, "scripted"}
    # The older entry point still works the same way.
    assert Registry.load(str(gguf)).default == "Tiny-Model.Q4"
    assert Registry.load(None).default == DEFAULT_MODEL_NAME


def test_missing_gguf_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="GGUF file not found"):
        Registry.load(str(tmp_path / "nope.gguf"), None)


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelNotFound, match="Unknown model 'gpt-4o'.*scripted"):
        Registry.load("gpt-4o", None)


def test_config_file_with_relative_paths_and_settings(tmp_path):
    a = fake_gguf(tmp_path / "weights" / "a.gguf")
    b = fake_gguf(tmp_path / "conf" / "models" / "b.gguf")
    config = write_config(tmp_path / "conf" / "airlock.toml", """
default = "beta"

[models.alpha]
path = "../weights/a.gguf"
n_ctx = 2048
n_threads = 2

[models.beta]
path = "models/b.gguf"
chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
cache_mb = 64
""")
    reg = Registry.load(None, config)
    assert reg.default == "beta"
    assert [e.name for e in reg.entries()][0] == "beta"
    assert {e.name for e in reg.entries()} == {"alpha", "beta", DEFAULT_MODEL_NAME, "scripted"}
    alpha, beta = reg.get("alpha"), reg.get("beta")
    assert alpha.path == a.resolve() and beta.path == b.resolve()
    assert (alpha.n_ctx, alpha.n_threads, alpha.chat_template) == (2048, 2, None)
    assert (beta.n_ctx, beta.n_threads, beta.cache_mb) == (4096, None, 64)
    assert beta.chat_template.startswith("{% for m in messages %}")
    # --model overrides the config's default, by name or by the same file's path.
    assert Registry.load("alpha", config).default == "alpha"
    assert Registry.load(str(a), config).default == "alpha"
    assert Registry.load(DEFAULT_MODEL_NAME, config).default == DEFAULT_MODEL_NAME


def test_config_without_default_keeps_the_embedded_default(tmp_path):
    fake_gguf(tmp_path / "x.gguf")
    config = write_config(tmp_path / "m.toml", '[models.x]\npath = "x.gguf"\n')
    reg = Registry.load(None, config)
    assert reg.default == DEFAULT_MODEL_NAME
    assert reg.get("x").path == (tmp_path / "x.gguf").resolve()


def test_config_can_tune_the_embedded_model(tmp_path):
    config = write_config(tmp_path / "m.toml", f"[models.{DEFAULT_MODEL_NAME}]\nn_ctx = 1024\n")
    entry = Registry.load(None, config).get(DEFAULT_MODEL_NAME)
    assert entry.path == embedded_gguf() and entry.n_ctx == 1024


@pytest.mark.parametrize(
    "text, message",
    [
        ('[models.x]\npath = "missing.gguf"\n', "model 'x': GGUF file not found"),
        ("[models.x\n", "not valid TOML"),
        ('[models.x]\nn_ctx = 10\n', "model 'x' needs a 'path'"),
        ('[models.x]\npath = "x.gguf"\nn_ctx = "big"\n', "'n_ctx' must be a positive integer"),
        ('[models.x]\npath = "x.gguf"\nn_threads = 0\n', "'n_threads' must be a positive integer"),
        ('[models.x]\npath = "x.gguf"\nn_threads_batch = "all"\n',
         "'n_threads_batch' must be a positive integer or \"auto\""),
        ('[models.x]\npath = "x.gguf"\ncontext = 10\n', "unknown setting.*context"),
        ('default = "y"\n[models.x]\npath = "x.gguf"\n', "default model 'y' is not defined"),
        ('[models.scripted]\npath = "x.gguf"\n', "'scripted' is reserved"),
        ('models = 3\n', "'models' must be a table"),
        ('[model.x]\npath = "x.gguf"\n', "unknown top-level key"),
    ],
)
def test_bad_config_files_are_clear_errors(tmp_path, text, message):
    fake_gguf(tmp_path / "x.gguf")
    config = write_config(tmp_path / "m.toml", text)
    with pytest.raises(ModelNotFound, match=message) as info:
        Registry.load(None, config)
    assert str(config) in str(info.value)


def test_thread_counts_from_the_config_and_the_environment(tmp_path, monkeypatch):
    fake_gguf(tmp_path / "x.gguf")
    config = write_config(tmp_path / "m.toml", """
[models.fixed]
path = "x.gguf"
n_threads = 1
n_threads_batch = 2
[models.auto]
path = "x.gguf"
n_threads = "auto"
[models.unset]
path = "x.gguf"
""")
    monkeypatch.setenv("AIRLOCK_N_THREADS", "3")
    reg = Registry.load(None, config)
    assert (reg.get("fixed").n_threads, reg.get("fixed").n_threads_batch) == (1, 2)
    # "auto" in the config wins over the environment; an entry that says nothing takes it.
    assert (reg.get("auto").n_threads, reg.get("auto").n_threads_batch) == (None, None)
    assert (reg.get("unset").n_threads, reg.get("unset").n_threads_batch) == (3, None)
    assert reg.get(DEFAULT_MODEL_NAME).n_threads == 3
    monkeypatch.setenv("AIRLOCK_N_THREADS", "many")
    with pytest.raises(ModelNotFound, match="AIRLOCK_N_THREADS must be a positive integer"):
        Registry.load(None, config)


def test_missing_config_file(tmp_path):
    with pytest.raises(ModelConfigError, match="Models config not found"):
        Registry.load(None, tmp_path / "absent.toml")


# -- resolve ----------------------------------------------------------------------------------


def test_resolve_strict_and_lenient(tmp_path):
    fake_gguf(tmp_path / "x.gguf")
    config = write_config(tmp_path / "m.toml", '[models.x]\npath = "x.gguf"\n')
    reg = Registry.load(None, config)
    assert reg.resolve("x", strict=True).name == "x"
    assert reg.resolve("scripted", strict=True).kind == "scripted"
    assert reg.resolve("gpt-4o", strict=False).name == DEFAULT_MODEL_NAME
    assert reg.resolve("gpt-4o").name == DEFAULT_MODEL_NAME
    with pytest.raises(ModelNotFound, match="gpt-4o"):
        reg.resolve("gpt-4o", strict=True)
    with pytest.raises(ModelNotFound):
        reg.get("gpt-4o")


def test_constructor_always_registers_scripted(tmp_path):
    reg = Registry([ModelEntry("m", fake_gguf(tmp_path / "m.gguf"))], "m")
    assert reg.get("scripted").kind == "scripted"
    with pytest.raises(ModelNotFound):
        Registry([ModelEntry("m", tmp_path / "m.gguf")], "other")


# -- backends ---------------------------------------------------------------------------------


def test_scripted_backend_comes_from_the_injected_factory_once():
    reg = Registry.load("scripted", None)
    with pytest.raises(RuntimeError, match="set_scripted_factory"):
        reg.backend("scripted")
    made: list[FakeBackend] = []
    gate = threading.Event()

    def factory():
        gate.wait(5)  # hold every concurrent caller inside the load
        made.append(FakeBackend())
        return made[-1]

    reg.set_scripted_factory(factory)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(reg.backend("scripted"))) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(made) == 1 and len(got) == 8 and all(b is made[0] for b in got)
    assert reg.backend("scripted") is made[0]
    reg.close()
    assert made[0].closed == 1
    with pytest.raises(RuntimeError, match="closed"):
        reg.backend("scripted")


def test_unknown_backend_name():
    with pytest.raises(ModelNotFound):
        Registry.load(None, None).backend("gpt-4o")


def test_gguf_backend_loads_once_with_entry_settings(tmp_path):
    config = write_config(tmp_path / "m.toml", f"""
[models.small-ctx]
path = "{embedded_gguf()}"
n_ctx = 1024
n_threads = 1
""")
    reg = Registry.load("small-ctx", config)
    try:
        backend = reg.backend("small-ctx")
        assert backend is reg.backend("small-ctx")
        assert backend.name == "small-ctx" and backend.n_ctx == 1024
        assert backend.count_tokens([{"role": "user", "content": "Hello"}]) > 3
        assert backend.threads["decode"] == "1 (fixed)"
        assert reg.loaded() == ["small-ctx"]
    finally:
        reg.close()
    assert reg.loaded() == []


def test_a_broken_gguf_fails_to_load_and_is_not_cached(tmp_path):
    gguf = fake_gguf(tmp_path / "broken.gguf")
    reg = Registry.load(str(gguf), None)
    for _ in range(2):
        with pytest.raises(ModelLoadError, match="'broken' could not be loaded from"):
            reg.backend("broken")
    assert reg.loaded() == []
