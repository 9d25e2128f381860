"""The Chroma client behind the vector index: embedded (a directory of the data dir), or a
Chroma server (`chroma run --path DIR --port P`, from the chromadb package) that several
airlock replicas share.

Either way airlock computes every embedding itself and passes the vectors explicitly:
collections are made with no embedding function, so Chroma's default one (which downloads an
ONNX model) never runs, on this side or on the server's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from chromadb.api.client import Client


class ChromaUrlError(ValueError):
    """--chroma-url is not an http(s)://host:port URL."""


def open_client(path: Path, url: str | None = None) -> Client:
    """A Chroma client: the server at `url` when given, else the embedded store at `path`."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    # Both are declared to return the ClientAPI interface, which lacks close(); the objects
    # they return are chromadb.api.client.Client, which has it.
    if url is None:
        return cast("Client", chromadb.PersistentClient(path=str(path), settings=settings))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChromaUrlError(f"--chroma-url must look like http://host:port, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 8000)
    return cast("Client", chromadb.HttpClient(host=parts.hostname, port=port,
                                              ssl=parts.scheme == "https", settings=settings))
