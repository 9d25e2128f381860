"""The campaigns' own tools (schemathesis, the openai package with its test dependencies) live in
one venv under .cache/campaigns, apart from airlock's: they are test tools, installed on first use
from the package index, never imported by airlock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "campaigns"
VENV = CACHE / "venv"
BIN = VENV / "bin"

sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from _server import airlock_server  # noqa: E402,F401  (re-exported for the campaigns)


def tools_venv(*requirements: str) -> Path:
    """The campaigns' venv with `requirements` installed (pip skips what is already there)."""
    if not (BIN / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "-q", *requirements], check=True)
    return BIN
