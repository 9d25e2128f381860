"""What the evaluations that start a real `airlock serve` share: the server (its log kept, and
optionally run from another checkout), the untimed warm-up run, the model's label."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import openai

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from _server import airlock_server  # noqa: E402

DEFAULT_MODEL = "smollm2-135m-instruct"


def server_env() -> dict[str, str]:
    # As _server.airlock_server starts the server: without PYTHONPATH.
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def imported_airlock(cwd: Path | None = None) -> str:
    """The airlock package `python -m airlock` imports when started in cwd (its sys.path[0] is
    the cwd, ahead of the editable install): the same interpreter, environment and cwd."""
    out = subprocess.run(
        [sys.executable, "-c", "import airlock; print(airlock.__file__)"],
        cwd=cwd, env=server_env(), capture_output=True, text=True, check=True)
    return str(Path(out.stdout.strip()).resolve().parent)


@contextmanager
def logged_server(model: str | None, log_path: Path, cwd: Path | None = None) -> Iterator[str]:
    """_server.airlock_server with the server's stderr (its log) going to log_path: the child
    inherits fd 2 when it starts, so fd 2 points at the file only while it starts. With cwd, the
    child starts there (it inherits the cwd too), so `python -m airlock` imports that checkout."""
    extra = ["--log-level", "info"]  # later flags win: _server passes --log-level warning
    if model:
        extra += ["--model", str(Path(model).resolve()) if Path(model).is_file() else model]
    with ExitStack() as stack, open(log_path, "wb") as log:
        sys.stderr.flush()
        saved, saved_cwd = os.dup(2), os.getcwd()
        os.dup2(log.fileno(), 2)
        try:
            if cwd is not None:
                os.chdir(cwd)
            base, _ = stack.enter_context(airlock_server(*extra))
        finally:
            os.chdir(saved_cwd)
            os.dup2(saved, 2)
            os.close(saved)
        yield base


def warm_up(client: openai.OpenAI) -> None:
    """One untimed run: the first run would otherwise pay for loading the GGUF."""
    assistant = client.beta.assistants.create(model="gpt-4o", instructions="Be brief.")
    client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, max_completion_tokens=16,
        thread={"messages": [{"role": "user", "content": "Hi"}]})


def model_label(model: str | None) -> str:
    if not model:
        return DEFAULT_MODEL
    return Path(model).stem if model.endswith(".gguf") else model


def eval_arguments(what: str) -> argparse.ArgumentParser:
    """The options every server-driven evaluation takes; `what` names its unit (a case, a run).

    Also quiets the SDK's deprecation warning on every Assistants call (that is what airlock
    serves) and turns SIGTERM into an exit, so the cleanup that stops the server still runs."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="a configured model name or a .gguf path (default: SmolLM2)")
    ap.add_argument("--deadline", type=float, default=120.0, help="seconds before a run is cancelled")
    ap.add_argument("--json", help=f"append every {what}'s record here, one JSON line each")
    ap.add_argument("--render", help="only print the tables of the records in this file")
    ap.add_argument("--log", help="keep the server log here (default: a temporary file)")
    ap.add_argument("--label", help="suffix of the doc section, e.g. before or after")
    return ap
