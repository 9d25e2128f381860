"""all-MiniLM-L6-v2 (or another plain sentence-transformers model) on OpenVINO's CPU runtime.

Why OpenVINO: measured on this project's 2-core AMD EPYC box, the same windows embed 3-4x faster
than on PyTorch float32 (docs/benchmarks.md). OpenVINO runs a float32 model in bfloat16 on CPUs
that have it (AVX512-BF16/AMX) and in float32 elsewhere; the vectors stay within cosine 0.9999
of PyTorch's. ONNX Runtime's dynamic int8 quantization was tried as well and was both slower
here and further off (cosine down to 0.905), so it is not used.

The OpenVINO model is converted locally from the weights already on disk, at first use, by
tracing the PyTorch model (openvino.convert_model); nothing is downloaded. It is cached under
`cache_dir` in a directory named by a hash of the weights, the recipe and the OpenVINO version,
written to a temporary name and renamed, so concurrent processes never read a half-written file.
Later starts load the cached model without importing torch.

Only the standard pipeline is supported: Transformer -> Pooling (mean or CLS) -> optional
Normalize. Anything else raises Unsupported and the caller uses PyTorch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("airlock.file_search")

# Bumped when the conversion changes, so an old cached model is not reused.
_RECIPE = 1
_STD_MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                "sentence_transformers.models.Normalize")


class Unsupported(Exception):
    """This model or machine cannot use the OpenVINO path; PyTorch is used instead."""


def _pipeline(source: Path) -> tuple[Path, str]:
    """(directory of the transformer weights, pooling mode) of a standard sentence-transformers model."""
    modules = json.loads((source / "modules.json").read_text())
    types = [m["type"] for m in modules]
    if not (2 <= len(types) <= 3 and tuple(types) == _STD_MODULES[:len(types)]):
        raise Unsupported(f"modules {types} are not Transformer, Pooling[, Normalize]")
    pooling = json.loads((source / modules[1]["path"] / "config.json").read_text())
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes == ["pooling_mode_mean_tokens"]:
        mode = "mean"
    elif modes == ["pooling_mode_cls_token"]:
        mode = "cls"
    else:
        raise Unsupported(f"pooling {modes} is not mean or cls")
    return source / modules[0]["path"], mode


def _cache_key(weights_dir: Path, input_names: list[str]) -> str:
    import openvino

    h = hashlib.sha256(json.dumps([_RECIPE, openvino.__version__, input_names]).encode())
    for path in sorted(weights_dir.iterdir()):
        if path.suffix in (".safetensors", ".bin", ".json") and path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:20]


def _convert(weights_dir: Path, input_names: list[str], target: Path) -> None:
    """Trace the PyTorch model to OpenVINO IR (model.xml + model.bin) in `target`."""
    import openvino
    import torch
    from transformers import AutoModel

    target.parent.mkdir(parents=True, exist_ok=True)  # an unusable cache fails before the work
    model = AutoModel.from_pretrained(str(weights_dir), local_files_only=True).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(input_names, args, strict=True))).last_hidden_state

    example = tuple(torch.ones((2, 16), dtype=torch.long) for _ in input_names)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns that shape checks in the attention mask code become constants; they
        # are constant for an encoder given a mask (the vectors are checked against PyTorch's).
        warnings.simplefilter("ignore")
        ov_model = openvino.convert_model(LastHidden(), example_input=example)
    for i, name in enumerate(input_names):
        ov_model.inputs[i].get_tensor().set_names({name})
        # Both dimensions vary: batch size and sequence length.
        ov_model.reshape({ov_model.inputs[i]: openvino.PartialShape([-1, -1])})
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        # float32 on disk; the CPU plugin picks bfloat16 at run time where the CPU has it.
        openvino.save_model(ov_model, str(tmp / "model.xml"), compress_to_fp16=False)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "model.xml").is_file():  # another process won the race otherwise
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class OpenVINOModel:
    """embed(input arrays) -> L2-normalized float32 sentence vectors, like the sentence-transformers
    pipeline it was converted from."""

    def __init__(self, source: Path, input_names: list[str], cache_dir: Path) -> None:
        try:
            import openvino
        except ImportError as exc:
            raise Unsupported("the openvino package is not installed") from exc
        weights_dir, self._pooling = _pipeline(source)
        self.input_names = input_names
        target = cache_dir / f"minilm-ov-{_cache_key(weights_dir, input_names)}"
        if not (target / "model.xml").is_file():
            log.info("converting the embedding model to OpenVINO in %s (once)", target)
            _convert(weights_dir, input_names, target)
        core = openvino.Core()
        model = core.read_model(str(target / "model.xml"))
        # Two compilations of one model: one thread and every core. Short inputs (search
        # queries) always take one thread (on a busy 2-core box a second thread only adds
        # barrier stalls for a short input); bulk ingestion takes whichever the embedder's
        # tuner measures faster at the moment (airlock.cpu.ThreadTuner).
        self._bulk = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        self._small = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                        "INFERENCE_NUM_THREADS": 1})
        # What the CPU plugin chose: bf16 where the CPU has it, f32 elsewhere.
        self.precision = str(self._bulk.get_property("INFERENCE_PRECISION_HINT").to_string())

    def embed(self, batch: dict[str, np.ndarray], threads: int) -> np.ndarray:
        """`threads`: 1 runs the one-thread compilation, more the every-core one."""
        compiled = self._small if threads == 1 else self._bulk
        hidden = compiled([batch[name] for name in self.input_names])[0]
        mask = batch["attention_mask"]
        if self._pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)
