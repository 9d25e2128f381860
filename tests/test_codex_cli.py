"""The Codex CLI (@openai/codex, pinned in tests/node/package.json) against airlock's /v1/responses:
`codex exec` with airlock as a custom model provider, driven by the scripted model through one
edit (its shell tool writes a file) and a final answer. Codex streams every turn with store false
and resends the whole history, its tool calls and their outputs included."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.runs_helpers import clear_script, script

CODEX = Path(__file__).resolve().parent / "node" / "node_modules" / ".bin" / "codex"

# airlock as Codex's model provider, offline: the key comes from AIRLOCK_API_KEY (any value;
# airlock checks none unless started with --api-key). Codex 0.171 also offers, by default, a
# web_search tool and its sub-agent tools grouped in a `namespace` tool, neither of which airlock
# serves (it answers 400), so both are turned off; plugins off keeps it from looking up
# chatgpt.com and api.github.com (with these settings it connects to airlock only). Codex has no
# metadata for a custom provider's model (it warns, and uses fallback metadata), so it offers no
# apply_patch tool and edits with its shell; a model_catalog_json that gives the model
# apply_patch (a custom tool with a Lark grammar) gets a 400 from airlock, which takes custom tools
# with the text format only.
# danger-full-access runs commands unsandboxed: the scripted model decides what runs, and Codex's
# own sandbox cannot start from a CODEX_HOME under the temp dir (it refuses to put its helper
# binaries there).
CONFIG = """\
model = "gpt-4o"
model_provider = "airlock"
web_search = "disabled"
check_for_update_on_startup = false
sandbox_mode = "danger-full-access"
approval_policy = "never"

[features]
plugins = false

[agents]
enabled = false

[model_providers.airlock]
name = "airlock"
base_url = "{base_url}"
env_key = "AIRLOCK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false
"""


@pytest.fixture(scope="module")
def codex_server(start_server):
    return start_server("codex", "--model", "scripted")


def run_codex(server, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    """`codex exec ARGS` in tmp_path/work, with its own HOME and CODEX_HOME under tmp_path (kept
    between calls, so `exec resume --last` finds the session before)."""
    assert CODEX.exists(), "the Codex CLI is missing: run scripts/install.sh --test"
    home, codex_home, work = tmp_path / "home", tmp_path / "codex-home", tmp_path / "work"
    for d in (home, codex_home, work):
        d.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(CONFIG.format(base_url=server.base_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update(HOME=str(home), CODEX_HOME=str(codex_home), AIRLOCK_API_KEY="x")
    last = tmp_path / "last.txt"
    last.unlink(missing_ok=True)
    out = subprocess.run(
        [str(CODEX), "exec", *args[:-1], "--json", "--strict-config", "--skip-git-repo-check",
         "--output-last-message", str(last), args[-1]],
        capture_output=True, text=True, timeout=180, env=env, cwd=work, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr + out.stdout
    assert not [e for e in events(out) if e["type"] in ("turn.failed", "error")], out.stdout
    return out, work


def events(out: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def shell(cmd: str) -> dict:
    # Codex 0.171's shell tool is exec_command({"cmd": "..."}), run with the user's shell.
    return {"tool_calls": [{"type": "function", "function": {
        "name": "exec_command", "arguments": {"cmd": cmd}}}]}


def completed(out: subprocess.CompletedProcess, kind: str) -> list[dict]:
    return [e["item"] for e in events(out)
            if e["type"] == "item.completed" and e["item"]["type"] == kind]


def test_codex_edits_a_file_with_its_shell_tool_and_answers(codex_server, tmp_path):
    clear_script(codex_server)
    script(codex_server, shell("printf 'hello\\n' > note.txt"), {"text": "I wrote note.txt."})
    out, work = run_codex(codex_server, tmp_path, "Write hello into note.txt.")
    assert (work / "note.txt").read_text() == "hello\n"
    (command,) = completed(out, "command_execution")
    assert "note.txt" in command["command"] and command["exit_code"] == 0
    assert [m["text"] for m in completed(out, "agent_message")] == ["I wrote note.txt."]
    assert events(out)[-1]["type"] == "turn.completed"
    assert (tmp_path / "last.txt").read_text().strip() == "I wrote note.txt."


def test_a_resumed_codex_session_resends_its_history_and_edits_again(codex_server, tmp_path):
    # The second turn's request carries the first turn in full (the user's message, the call,
    # its output and the answer, with the ids Codex and airlock gave them); airlock takes it.
    clear_script(codex_server)
    script(codex_server, shell("printf 'hello\\n' > note.txt"), {"text": "I wrote note.txt."},
           shell("printf 'world\\n' >> note.txt"), {"text": "I added world."})
    run_codex(codex_server, tmp_path, "Write hello into note.txt.")
    out, work = run_codex(codex_server, tmp_path, "resume", "--last", "Now add world.")
    assert (work / "note.txt").read_text() == "hello\nworld\n"
    (command,) = completed(out, "command_execution")
    assert ">> note.txt" in command["command"] and command["exit_code"] == 0
    assert (tmp_path / "last.txt").read_text().strip() == "I added world."


# What Codex knows of the model (else it falls back and offers no apply_patch): a user's
# model_catalog_json, as Ollama's Codex integration ships one.
CATALOG = {"models": [{
    "slug": "gpt-4o", "display_name": "gpt-4o on airlock", "base_instructions": "You are Codex.",
    "apply_patch_tool_type": "freeform", "shell_type": "shell_command",
    "supported_reasoning_levels": [], "visibility": "list", "supported_in_api": True,
    "priority": 1, "support_verbosity": False, "experimental_supported_tools": [],
    "truncation_policy": {"mode": "tokens", "limit": 10000}, "context_window": 32768}]}


def test_codex_edits_a_file_with_apply_patch(codex_server, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    clear_script(codex_server)
    script(codex_server, {"tool_calls": [{"type": "function", "function": {
        "name": "apply_patch", "arguments": {
            "input": "*** Begin Patch\n*** Add File: note.txt\n+hello\n*** End Patch\n"}}}]},
        {"text": "I added note.txt."})
    out, work = run_codex(codex_server, tmp_path, "-c", f'model_catalog_json="{catalog}"',
                          "Add note.txt saying hello.")
    assert (work / "note.txt").read_text() == "hello\n"
    assert (tmp_path / "last.txt").read_text().strip() == "I added note.txt."
