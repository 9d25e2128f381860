"""Testing Assistants-based apps against a real airlock server on the scripted model.

The pytest plugin (`airlock.testing.plugin`, loaded by the `pytest11` entry point) gives a test
the `airlock` fixture: an `Airlock` handle with the server's URLs, openai clients, and the
scripted model's queue. `replies` builds queued turns for `Airlock.queue`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airlock.testing import replies

if TYPE_CHECKING:
    from airlock.testing.handle import Airlock, AirlockError
    from airlock.testing.server import AirlockServer, ServerStartError

__all__ = ["Airlock", "AirlockError", "AirlockServer", "ServerStartError", "replies"]

_LAZY = {"Airlock": "handle", "AirlockError": "handle",
         "AirlockServer": "server", "ServerStartError": "server"}


def __getattr__(name: str) -> Any:
    # pytest imports the plugin, and so this package, in every run of the environment: the
    # handle and server (httpx, openai) load only when a test asks for them.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"airlock.testing.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
