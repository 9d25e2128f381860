"""Fuzzing campaign: schemathesis generates requests from airlock's own OpenAPI document (valid
and invalid bodies, odd types, boundary values) and checks that no response is a 5xx.

Run: .venv/bin/python scripts/campaigns/fuzz.py [--paths REGEX] [--max-examples N] [--seed S]

A real `airlock serve` with the scripted model and an API key is started; the campaign sends the
key on every request (the auth campaign, every bad key a 401, is in tests/test_auth.py).
Exit status 0 when no operation answered a 5xx. The result of the last campaign is in
docs/testing.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _tools import airlock_server, tools_venv

SCHEMATHESIS = "schemathesis==4.32.5"
KEY = "fuzz-key"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", default="^/v1/(chat/completions|embeddings|models)",
                    help="regex of the paths to fuzz (default: chat, embeddings, models)")
    ap.add_argument("--max-examples", type=int, default=400, help="cases per operation and phase")
    ap.add_argument("--seed", type=int, default=22)
    args = ap.parse_args()
    bin_dir = tools_venv(SCHEMATHESIS)
    with airlock_server("--model", "scripted", "--api-key", KEY) as (base, _):
        cmd = [str(bin_dir / "st"), "run", f"{base}/openapi.json", "--url", base,
               "--checks", "not_a_server_error", "--header", f"Authorization: Bearer {KEY}",
               "--include-path-regex", args.paths, "--max-examples", str(args.max_examples),
               "--seed", str(args.seed), "--workers", "2", "--request-timeout", "60",
               # The server's own bodies are the subject; the scripted model's replies are
               # not slow, so a timeout would be a finding too.
               "--suppress-health-check", "all"]
        print("+", " ".join(cmd), flush=True)
        return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
