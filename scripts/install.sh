#!/usr/bin/env bash
# Installs airlock and everything it runs on into ./.venv, from the package registries only.
# Usage: scripts/install.sh [--test]   (--test adds the test tools: pytest and the openai SDKs)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)

extras=""
if [ "${1:-}" = "--test" ]; then
  extras="[test]"
fi
# llama-cpp-python compiles from source on first install (about 11 minutes on 2 cores);
# pip caches the wheel, so later installs take seconds.
"${pip[@]}" -e ".${extras}"

if [ -n "$extras" ]; then
  # The Node SDK's AssistantStream checks the streams too (versions pinned by the lock file).
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
  # The second SDK the suite runs against, kept apart so it cannot replace the newest 3.x.
  sdk2=.cache/openai-2.54.0
  if [ ! -f "$sdk2/openai/__init__.py" ]; then
    rm -rf "$sdk2"
    # Its own dependencies land beside it; the main venv (where llm wants openai 3) is untouched.
    "${pip[@]}" --no-warn-conflicts --target "$sdk2" "openai==2.54.0"
  fi
fi
