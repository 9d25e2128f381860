"""Sampling defaults per model, used when a run does not set temperature or top_p.

A small model sampled at the API's default temperature of 1.0 rambles, and greedy decoding
loops; model makers publish the settings their models were tuned for. In order of precedence:
the models config (temperature, top_p, top_k, min_p, repeat_penalty), the GGUF's own
`general.sampling.*` metadata, the published defaults of the model's family (recognised by
`general.basename`), then GENERIC.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from airlock.models.gguf_meta import scalar_metadata


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0

    def extra(self) -> dict[str, float]:
        """What the backend takes beyond temperature and top_p (`TurnRequest.extra`)."""
        return {"top_k": self.top_k, "min_p": self.min_p, "repeat_penalty": self.repeat_penalty}


GENERIC = Sampling(temperature=0.7, top_p=0.9, repeat_penalty=1.1)
# From the makers' generation configs and model cards; SmolLM2 gets a mild repeat penalty on
# top, as its card's settings alone loop on ordinary second turns.
FAMILIES: dict[str, Sampling] = {
    "smollm2": Sampling(temperature=0.2, top_p=0.9, repeat_penalty=1.1),
    "qwen2.5": Sampling(temperature=0.7, top_p=0.8, top_k=20, repeat_penalty=1.05),
    "qwen3": Sampling(temperature=0.7, top_p=0.8, top_k=20, repeat_penalty=1.05),
    "llama-3": Sampling(temperature=0.6, top_p=0.9),
    "meta-llama-3": Sampling(temperature=0.6, top_p=0.9),
}
# GGUF metadata keys (as llama.cpp names them) and the settings they give.
_GGUF_KEYS = {"general.sampling.temp": "temperature", "general.sampling.top_p": "top_p",
              "general.sampling.top_k": "top_k", "general.sampling.min_p": "min_p",
              "general.sampling.penalty_repeat": "repeat_penalty"}
CONFIG_KEYS = frozenset(f.name for f in fields(Sampling))


def for_model(path: Path | None, overrides: dict[str, Any] | None = None) -> Sampling:
    meta = scalar_metadata(path) if path is not None and path.is_file() else {}
    basename = str(meta.get("general.basename") or meta.get("general.name") or "").lower()
    family = next((s for prefix, s in FAMILIES.items() if basename.startswith(prefix)), GENERIC)
    from_gguf = {name: meta[key] for key, name in _GGUF_KEYS.items() if key in meta}
    return replace(family, **from_gguf, **(overrides or {}))
