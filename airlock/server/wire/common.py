"""Request shapes shared by several resources: metadata, tools, tool_resources, response_format."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jsonschema
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


def _null_is_empty(value: Any) -> Any:
    return [] if value is None else value


# An optional list sent as null means what an absent one does, as on the real API (clients such
# as marvin send `"messages": null`).
NullIsEmpty = BeforeValidator(_null_is_empty)


class Strict(BaseModel):
    """Request bodies reject unknown fields, as the real API does, and take values of the
    documented types only: `"strict": 0` is not `false`, `"limit": "5"` is not 5."""

    model_config = ConfigDict(extra="forbid", strict=True)


INT64 = (-(2**63), 2**63 - 1)


def _fits_int64(value: Any) -> Any:
    """Free-form JSON (a schema, arguments, attributes) is stored as JSON, which holds 64-bit
    integers: a bigger one is refused here, naming where it is, not failed on write."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not INT64[0] <= item <= INT64[1]:
            raise ValueError(f"the integer at '{where or '.'}' is outside the 64-bit range")
        if isinstance(item, dict):
            stack += [(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            stack += [(v, f"{where}[{i}]") for i, v in enumerate(item)]
    return value


FreeJson = AfterValidator(_fits_int64)


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return value
    if len(value) > 16:
        raise ValueError("metadata may hold at most 16 keys")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"metadata key '{key[:20]}...' is longer than 64 characters")
        if len(item) > 512:
            raise ValueError(f"metadata value for '{key}' is longer than 512 characters")
    return value


Metadata = Annotated[dict[str, str] | None, AfterValidator(_check_metadata)]


class RankingOptions(Strict):
    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)


class FileSearchSettings(Strict):
    max_num_results: int | None = Field(None, ge=1, le=50)
    ranking_options: RankingOptions | None = None


def _check_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON Schema the model's arguments (or reply) will be decoded and validated against."""
    if value is not None:
        try:
            jsonschema.validators.validator_for(value).check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    return value


JsonSchema = Annotated[dict[str, Any] | None, FreeJson, AfterValidator(_check_schema)]


class FunctionDefinition(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: JsonSchema = None
    strict: bool | None = None


class CodeInterpreterTool(Strict):
    type: Literal["code_interpreter"]


class FileSearchTool(Strict):
    type: Literal["file_search"]
    file_search: FileSearchSettings | None = None


class FunctionTool(Strict):
    type: Literal["function"]
    function: FunctionDefinition


Tool = Annotated[
    CodeInterpreterTool | FileSearchTool | FunctionTool, Field(discriminator="type")
]
Tools = Annotated[list[Tool], Field(max_length=128), NullIsEmpty]


class CodeInterpreterResources(Strict):
    file_ids: Annotated[list[str], Field(max_length=20), NullIsEmpty] = []


class ChunkingStatic(Strict):
    max_chunk_size_tokens: int = Field(800, ge=100, le=4096)
    chunk_overlap_tokens: int = Field(400, ge=0)


class ChunkingStrategy(Strict):
    type: Literal["auto", "static"]
    static: ChunkingStatic | None = None


class NewVectorStore(Strict):
    file_ids: Annotated[list[str], NullIsEmpty] = []
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class FileSearchResources(Strict):
    vector_store_ids: Annotated[list[str], Field(max_length=1), NullIsEmpty] = []
    vector_stores: Annotated[list[NewVectorStore], Field(max_length=1), NullIsEmpty] = []


class ToolResources(Strict):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class JsonSchemaFormat(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    schema_: JsonSchema = Field(None, alias="schema")
    strict: bool | None = None


class TextFormat(Strict):
    type: Literal["text"]


class JsonObjectFormat(Strict):
    type: Literal["json_object"]


class JsonSchemaResponseFormat(Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = Literal["auto"] | Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaResponseFormat, Field(discriminator="type")
]

Temperature = Annotated[float | None, Field(ge=0.0, le=2.0)]
TopP = Annotated[float | None, Field(ge=0.0, le=1.0)]


def dump(value: Any) -> Any:
    """A validated request value as the plain JSON the store keeps (aliases, no unset fields)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


def dump_fields(body: BaseModel) -> dict[str, Any]:
    """Only the fields the client actually sent, dumped, so updates leave the others alone.
    Routers hand them to services as the command TypedDict (service/commands.py) that mirrors
    the request model; a change to one is a change to the other."""
    return {name: dump(getattr(body, name)) for name in body.model_fields_set}
