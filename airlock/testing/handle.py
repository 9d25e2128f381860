"""`Airlock`: what the `airlock` fixture gives a test. The server's URLs and key, ready openai
clients, and the scripted model's queue, driven over HTTP only (so it works against any airlock
server, not just the one the fixture starts).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from airlock.testing import replies
from airlock.testing.replies import Reply
from airlock.testing.tracking import ThreadTracker

if TYPE_CHECKING:
    import openai

SCRIPT_PATH = "/airlock/v1/scripted/replies"


class HasId(Protocol):
    @property
    def id(self) -> str: ...


# A thread object (anything with `.id`, e.g. the SDK's Thread) or its id; None: the global queue.
ThreadRef = str | HasId | None


class AirlockError(RuntimeError):
    """The airlock server refused a scripting or clean-up request."""


def thread_id_of(thread: ThreadRef) -> str | None:
    return thread if thread is None or isinstance(thread, str) else thread.id


class Airlock:
    """A test's view of an airlock server running the scripted model.

    Each model turn of a run takes the next reply queued for its thread, else the next global one
    (queued without `thread=`). Queue replies before the run reaches the model.
    """

    def __init__(self, root_url: str, api_key: str):
        self.root_url = root_url.rstrip("/")
        self.api_key = api_key
        self.threads = ThreadTracker()
        self.http = httpx.Client(base_url=self.root_url, timeout=30.0,
                                 headers={"Authorization": f"Bearer {api_key}"})

    @property
    def base_url(self) -> str:
        """What `openai.OpenAI(base_url=...)` takes: the server's `/v1`."""
        return f"{self.root_url}/v1"

    @property
    def env(self) -> dict[str, str]:
        """The variables `openai.OpenAI()` reads, for apps that build their own client (pass them
        to a subprocess, or use the `airlock_env` fixture to set them in this one)."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": self.api_key}

    @functools.cached_property
    def client(self) -> openai.OpenAI:
        """An `openai.OpenAI` on this server (no retries: a failure shows at once)."""
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0,
                             http_client=openai.DefaultHttpxClient(event_hooks=self.threads.event_hooks()))

    @functools.cached_property
    def async_client(self) -> openai.AsyncOpenAI:
        """An `openai.AsyncOpenAI` on this server; use it inside the test's own event loop."""
        import openai

        hooks = self.threads.async_event_hooks()
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0,
                                  http_client=openai.DefaultAsyncHttpxClient(event_hooks=hooks))

    # --- scripting the model -------------------------------------------------------------------

    def queue(self, *turns: Reply, thread: ThreadRef = None) -> None:
        """Queue model turns in order, made with `airlock.testing.replies` (or as raw JSON)."""
        body: dict[str, Any] = {"replies": list(turns)}
        if (tid := thread_id_of(thread)) is not None:
            body["thread_id"] = tid
        self._call("POST", SCRIPT_PATH, json=body)

    def reply(self, text: str, *, thread: ThreadRef = None, delay_ms: int = 0) -> None:
        """The model answers `text` (paced `delay_ms` per word, e.g. to cancel mid-reply)."""
        self.queue(replies.text(text, delay_ms=delay_ms), thread=thread)

    def call_function(self, name: str, arguments: Mapping[str, Any] | None = None, *,
                      thread: ThreadRef = None) -> None:
        """The model calls function `name`: the run goes to `requires_action`."""
        self.queue(replies.function_call(name, arguments), thread=thread)

    def call_functions(self, calls: Iterable[tuple[str, Mapping[str, Any]]], *,
                       thread: ThreadRef = None) -> None:
        """The model calls several functions in one turn: `[("get_weather", {"city": "Paris"}), ...]`."""
        self.queue(replies.function_calls(calls), thread=thread)

    def search_files(self, query: str, *, thread: ThreadRef = None) -> None:
        """The model runs file_search with exactly `query`; queue its answer next."""
        self.queue(replies.file_search(query), thread=thread)

    def run_code(self, code: str, *, thread: ThreadRef = None) -> None:
        """The model runs `code` with code_interpreter (a sandboxed kernel); queue its answer next."""
        self.queue(replies.code_interpreter(code), thread=thread)

    def fail(self, message: str, *, text: str = "", thread: ThreadRef = None) -> None:
        """The model emits `text`, then fails: the run ends `failed`, `message` in `last_error`."""
        self.queue(replies.error(message, text=text), thread=thread)

    def queued(self, thread: ThreadRef = None) -> list[Reply]:
        """The turns still queued for `thread` (the global queue when omitted), next first."""
        params = {} if (tid := thread_id_of(thread)) is None else {"thread_id": tid}
        found: list[Reply] = self._call("GET", SCRIPT_PATH, params=params)["replies"]
        return found

    def clear(self, thread: ThreadRef = None) -> int:
        """Empties `thread`'s queue, or with no thread every queue; returns how many were dropped."""
        params = {} if (tid := thread_id_of(thread)) is None else {"thread_id": tid}
        cleared: int = self._call("DELETE", SCRIPT_PATH, params=params)["cleared"]
        return cleared

    # --- plumbing -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code != 200:
            raise AirlockError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
        # Not the async client: its connections belong to the test's event loop, closed by now,
        # and closing it needs a loop. The garbage collector drops it.
        self.http.close()
