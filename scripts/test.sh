#!/usr/bin/env bash
# Installs airlock with its test tools, checks the code's habits (lint, types, import layers),
# then runs the suite: the in-process unit tests, the end-to-end tests with the newest openai
# 3.x (the Playground's tests in headless Chromium among them), a second quick pass with
# openai 2.54.0 (the last 2.x; slow tests, the browser's included, are left out), and the
# Assistants v1 tests with openai 1.20.0 (the last SDK that spoke v1).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh --test
echo "== ruff, mypy, import-linter"
.venv/bin/ruff check airlock tests scripts
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
echo "== pytest with openai $(.venv/bin/python -c 'import openai; print(openai.__version__)')"
.venv/bin/python -m pytest -q "$@"
echo "== pytest with openai 2.54.0 (SDK compatibility pass)"
PYTHONPATH="$PWD/.cache/openai-2.54.0" .venv/bin/python -m pytest -q -m "not slow" --ignore=tests/unit --ignore=tests/cluster "$@"
# The first pass ran tests/cluster (replicas on a real PostgreSQL). Here the store-heavy end-to-end
# tests run again with every server on PostgreSQL; AIRLOCK_TEST_DATABASE=postgres runs the whole
# suite that way (docs/deployment.md), which would not fit CI's time budget on top of the rest.
echo "== pytest on PostgreSQL (store-heavy subset)"
AIRLOCK_TEST_DATABASE=postgres .venv/bin/python -m pytest -q -m "not slow" \
  tests/test_assistants.py tests/test_threads.py tests/test_messages.py tests/test_runs.py \
  tests/test_runs_read.py tests/test_streaming.py tests/test_function_calling.py \
  tests/test_persistence.py tests/test_runs_recovery.py tests/test_pagination.py \
  tests/test_files.py tests/test_vector_stores.py tests/test_file_search_runs.py \
  tests/test_hardening_api.py tests/test_responses.py tests/test_conversations.py \
  tests/test_responses_background.py tests/test_containers.py tests/test_thread_migration.py \
  tests/test_agents_sdk.py "$@"
echo "== pytest with openai 1.20.0 (Assistants v1)"
PYTHONPATH="$PWD/.cache/openai-1.20.0" .venv/bin/python -m pytest -q tests/v1 "$@"
