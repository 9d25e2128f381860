"""The second model family of the tests: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M), whose GGUF chat
template renders `tools` natively, Hermes style. `scripts/fetch_test_model.py` fetches it (the
install script does); tests that need it fail, saying so, when it is missing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airlock.models.llama import LlamaBackend

_FETCH = Path(__file__).resolve().parent.parent / "scripts" / "fetch_test_model.py"

WEATHER = {"name": "get_weather", "description": "Get the current weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}
FILE_SEARCH = {
    "name": "file_search",
    "description": "Search the user's uploaded files for passages about a topic.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]},
}
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
# What no reply may contain, whatever the template.
MARKUP = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", '{"name"',
          "<|im_start|>", "<|im_end|>", "<|eot_id|>", "<|start_header_id|>", "<|python_tag|>")


def qwen_path() -> Path:
    spec = importlib.util.spec_from_file_location("fetch_test_model", _FETCH)
    assert spec is not None and spec.loader is not None
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    path: Path = fetch.model_path()
    if not path.is_file() or path.stat().st_size != fetch.SIZE:
        pytest.fail("Qwen test model missing: run .venv/bin/python scripts/fetch_test_model.py "
                    "(scripts/install.sh --test does)")
    return path


def qwen_backend() -> LlamaBackend:
    return LlamaBackend("qwen2.5-coder-0.5b-instruct", qwen_path(), n_ctx=4096, n_threads=2)


def run_python(code: str) -> str:
    """What `code` prints, run in plain Python."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    return done.stdout + done.stderr


def rounds(question: str, name: str, arguments: dict, output: str) -> list[dict]:
    """A user question, the assistant's call, and its result."""
    return [SYSTEM, {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "name": name, "arguments": json.dumps(arguments)}]},
            {"role": "tool", "tool_call_id": "call_1", "name": name, "content": output}]
