"""POST /v1/embeddings: the request body, and the list of embeddings it answers with
(docs/wire/embeddings.md)."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from pydantic import BeforeValidator, Field

from airlock.server.json_response import WireJSON
from airlock.server.wire.common import Strict
from airlock.service import EmbeddingResult

# The most inputs one request may hold, as on the hosted API.
MAX_INPUTS = 2048


def _check_input(value: Any) -> Any:
    """The four shapes the API takes, each non-empty; a clear message for anything else."""
    if isinstance(value, str):
        if not value:
            raise ValueError("must not be an empty string")
        return value
    if not isinstance(value, list):
        raise ValueError("must be a string, an array of strings, or an array of token arrays")
    if not value:
        raise ValueError("must not be an empty array")
    if len(value) > MAX_INPUTS:
        raise ValueError(f"holds {len(value)} inputs; at most {MAX_INPUTS} are allowed")
    for i, item in enumerate(value):
        if isinstance(item, str):
            if not item:
                raise ValueError(f"input[{i}] is an empty string")
        elif isinstance(item, list):
            if not item:
                raise ValueError(f"input[{i}] is an empty token array")
            if not all(type(t) is int for t in item):
                raise ValueError(f"input[{i}] must hold integer token ids only")
        elif type(item) is not int:
            raise ValueError("must be a string, an array of strings, or an array of token arrays")
    if len({type(item) for item in value}) > 1:
        raise ValueError("mixes strings, token ids and token arrays; use one kind")
    return value


# What the OpenAPI document says of `input`: the same limits _check_input enforces (it runs first
# and words the errors), so generated clients and fuzzers send what the server takes.
_Text = Annotated[str, Field(min_length=1)]
_Tokens = Annotated[list[int], Field(min_length=1)]
_Inputs = (_Text | Annotated[list[_Text], Field(min_length=1, max_length=MAX_INPUTS)] | _Tokens
           | Annotated[list[_Tokens], Field(min_length=1, max_length=MAX_INPUTS)])


class EmbeddingCreate(Strict):
    model: str = Field(min_length=1, examples=["all-MiniLM-L6-v2", "text-embedding-3-small"])
    input: Annotated[_Inputs, BeforeValidator(_check_input)]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None

    def inputs(self) -> list[str] | list[list[int]]:
        """One entry per embedding to return: a string or a token array each."""
        if isinstance(self.input, str):
            return [self.input]
        if self.input and isinstance(self.input[0], int):
            return [self.input]
        return self.input  # type: ignore[return-value]


class EmbeddingsJSON(WireJSON):
    """Float vectors go out straight from numpy's float32, in their shortest exact form."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def render(result: EmbeddingResult, encoding_format: str | None) -> EmbeddingsJSON:
    vectors = np.ascontiguousarray(result.vectors, dtype="<f4")
    if encoding_format == "base64":
        # Little-endian float32 bytes, as the SDKs decode them (numpy frombuffer / array "f").
        encoded: list[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in vectors]
    else:
        encoded = list(vectors)
    return EmbeddingsJSON({
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": e}
                 for i, e in enumerate(encoded)],
        "model": result.model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    })
