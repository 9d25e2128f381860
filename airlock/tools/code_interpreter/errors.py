"""The one error the code interpreter raises on its own."""

from __future__ import annotations


class SandboxUnavailable(Exception):
    """Kernels cannot be jailed here (and running them unjailed was not allowed).

    The message says why and how to fix it.
    """
