"""A request's sampling: what it sets, else the model entry's defaults (models.sampling); a seed
it gives, else a fresh one, so requests without one sample afresh as on the real APIs."""

from __future__ import annotations

import secrets

from airlock.engine.core.items import Sampling
from airlock.models.backend import Controls
from airlock.models.registry import ModelEntry


def sampling(entry: ModelEntry, temperature: float | None, top_p: float | None,
             seed: int | None, controls: Controls) -> Sampling:
    defaults = entry.sampling
    return Sampling(
        defaults.temperature if temperature is None else temperature,
        defaults.top_p if top_p is None else top_p,
        {**defaults.extra(), "seed": secrets.randbelow(2**31) if seed is None else seed},
        controls=controls)
