"""A GGUF file's scalar metadata (general.name, general.sampling.*, ...), read from its header
without loading the model.

Reading stops at the first array value: GGUF writers put the general.* keys first and the big
tokenizer arrays last, and only scalars are wanted here.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def scalar_metadata(path: Path) -> dict[str, Any]:
    """The leading scalar key/values of a GGUF file; what could be read of a broken one ({} when
    it is not a GGUF file at all: loading it will say what is wrong)."""
    out: dict[str, Any] = {}
    try:
        _read(path, out)
    except (OSError, struct.error, UnicodeDecodeError):
        pass
    return out


def _read(path: Path, out: dict[str, Any]) -> None:
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            return
        (version,) = struct.unpack("<I", f.read(4))
        if version < 2:
            return
        _tensors, n_kv = struct.unpack("<QQ", f.read(16))
        for _ in range(n_kv):
            key = _string(f)
            (kind,) = struct.unpack("<I", f.read(4))
            if kind == _STRING:
                out[key] = _string(f)
            elif kind in _SCALARS:
                fmt = _SCALARS[kind]
                (out[key],) = struct.unpack(fmt, f.read(struct.calcsize(fmt)))
            else:
                break  # an array (or something newer): the scalars of interest came before


def _string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode("utf-8", errors="replace")
