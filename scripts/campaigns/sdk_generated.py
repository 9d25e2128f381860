"""openai-python's own generated tests for chat completions, embeddings, models, responses and
conversations, run against a real airlock instead of the Prism mock they were generated for.

Run: .venv/bin/python scripts/campaigns/sdk_generated.py [--version X.Y.Z] [--group chat|responses]

The tests come from the openai sdist of the version airlock's venv has (the package index has
them; the wheel does not), and run in the campaigns' venv with the dev dependencies they need.
Every call goes through the SDK, strict and loose, sync and async (httpx and aiohttp). Outcomes
are sorted by _classify.py: passed; refused with a 4xx (the generated bodies use placeholder
values such as max_tokens=0, dimensions=1, audio output, or stored-completion ids no server
holds); a shape failure (the SDK rejected what airlock returned); a 5xx. Exit status 0 when
there are no shape failures and no 5xx. The last result is in docs/testing.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

from _tools import CACHE, airlock_server, tools_venv

GROUPS = {
    "chat": ["chat/test_completions.py", "test_embeddings.py", "test_models.py"],
    "responses": ["test_responses.py", "responses/test_input_items.py",
                  "responses/test_input_tokens.py", "test_conversations.py",
                  "conversations/test_items.py"],
    "containers": ["test_containers.py", "containers/test_files.py",
                   "containers/files/test_content.py"],
}
KEY = "My API Key"  # the key the generated tests' conftest sends


def sdist_tests(version: str, bin_dir: Path) -> Path:
    root = CACHE / f"openai-{version}"
    if not (root / "tests").is_dir():
        subprocess.run([str(bin_dir / "python"), "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", f"openai=={version}", "-d", str(CACHE)],
                       check=True)
        with tarfile.open(CACHE / f"openai-{version}.tar.gz") as tar:
            tar.extractall(CACHE, filter="data")
    return root


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default=importlib.metadata.version("openai"),
                    help="openai-python version (default: the one airlock's venv has)")
    ap.add_argument("--group", choices=sorted(GROUPS), action="append",
                    help="which resources' tests (default: all)")
    args = ap.parse_args()
    bin_dir = tools_venv(f"openai[aiohttp]=={args.version}", "pytest", "pytest-asyncio",
                         "inline-snapshot", "dirty-equals", "rich")
    root = sdist_tests(args.version, bin_dir)
    out = CACHE / "sdk_generated.json"
    with airlock_server("--model", "scripted", "--api-key", KEY) as (base, _):
        env = {**os.environ, "TEST_API_BASE_URL": f"{base}/v1", "AIRLOCK_CAMPAIGN_OUT": str(out),
               "PYTHONPATH": str(Path(__file__).parent)}
        # -c /dev/null: the sdist's pytest settings assume its own CI (xdist, a Prism mock).
        subprocess.run([str(bin_dir / "python"), "-m", "pytest", "-c", "/dev/null",
                        "--rootdir", str(root), "-p", "no:cacheprovider", "-p", "_classify",
                        "-o", "asyncio_mode=auto", "-q", "--no-header", "-rN",
                        *(f"tests/api_resources/{f}" for g in args.group or sorted(GROUPS)
                          for f in GROUPS[g])],
                       cwd=root, env=env, stdout=subprocess.DEVNULL)
    rows = json.loads(out.read_text())
    totals: Counter[str] = Counter()
    print(f"openai-python {args.version} generated tests against airlock\n")
    print("| file | outcome | reason | tests |\n|---|---|---|---|")
    for file, kind, why, n in rows:
        totals[kind] += n
        print(f"| {file} | {kind} | {why.replace('|', '/')} | {n} |")
    print("\n" + ", ".join(f"{k}: {n}" for k, n in sorted(totals.items())))
    return 1 if totals["SHAPE FAILURE"] or totals["5xx"] or totals["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
