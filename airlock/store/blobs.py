"""Uploaded and generated files' bytes, on disk under the files dir; their rows live in `files`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from airlock.store.ids import new_id

_CHUNK = 1024 * 1024


def write_blob(files_dir: Path, source: BinaryIO) -> tuple[str, int]:
    """Copies `source` into the files dir chunk by chunk; returns (relative path, size).

    The bytes are fsynced before the caller commits the row, so an acknowledged upload
    survives a crash.
    """
    name = new_id("file")
    tmp = files_dir / f".{name}.part"
    size = 0
    with open(tmp, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, files_dir / name)
    return name, size


def discard(files_dir: Path, path: str) -> None:
    (files_dir / path).unlink(missing_ok=True)
