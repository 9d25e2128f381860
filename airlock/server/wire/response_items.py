"""Items as Responses and Conversations take them (`input`, `items`): messages, function calls
and their outputs, references to stored items, and the output items a client sends back.

Each validated item becomes its stored shape (docs/wire/responses.md): the shape the API lists
it in, with an id (the client's, or a new one) and `status: "completed"`. A plain string
message's content becomes one `input_text` (`output_text` for an assistant) part. Item fields
the SDKs add that airlock does not use are accepted and dropped, since clients send back what
they received (the Agents SDK re-sends listed items as they are).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airlock.errors import InvalidRequest
from airlock.server.errors import invalid_part
from airlock.service.response_commands import ItemJson, new_id

OFFLINE = "airlock serves models offline"


class Loose(BaseModel):
    """Items take unknown fields (dropped): a client returns items as it received them."""

    model_config = ConfigDict(extra="ignore", strict=True)


class InputText(Loose):
    type: Literal["input_text"]
    text: str


class OutputText(Loose):
    type: Literal["output_text"]
    text: str
    annotations: list[dict[str, Any]] = []


class Refusal(Loose):
    type: Literal["refusal"]
    refusal: str


class InputImage(Loose):
    type: Literal["input_image"]


class InputFile(Loose):
    type: Literal["input_file"]
    file_id: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None


Part = Annotated[InputText | OutputText | Refusal | InputImage | InputFile,
                 Field(discriminator="type")]


class MessageIn(Loose):
    type: Literal["message"] = "message"
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]
    phase: Literal["commentary", "final_answer"] | None = None  # kept: clients resend it


class FunctionCallIn(Loose):
    type: Literal["function_call"]
    id: str | None = None
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str
    namespace: str | None = None  # kept: the call of a tool declared in a namespace


class FunctionCallOutputIn(Loose):
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: str = Field(min_length=1)
    output: str | list[Part]


class CustomToolCallIn(Loose):
    type: Literal["custom_tool_call"]
    id: str | None = None
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: str
    namespace: str | None = None


class CustomToolCallOutputIn(Loose):
    type: Literal["custom_tool_call_output"]
    id: str | None = None
    call_id: str = Field(min_length=1)
    output: str | list[Part]


class ItemReference(Loose):
    type: Literal["item_reference"]
    id: str = Field(min_length=1)


class SummaryText(Loose):
    type: Literal["summary_text"]
    text: str


class ReasoningIn(Loose):
    """A reasoning item sent back: kept in the history, never read by the model."""

    type: Literal["reasoning"]
    id: str | None = None
    summary: list[SummaryText] = []


class FileSearchCallIn(Loose):
    """A file_search call sent back (an earlier response's output): kept in the history; the
    model reads the answer that cited it, not its results again."""

    type: Literal["file_search_call"]
    id: str
    queries: list[str] = []
    results: list[dict[str, Any]] | None = None
    status: str = "completed"


class CodeInterpreterCallIn(Loose):
    """A code_interpreter call sent back (an earlier response's output): kept in the history;
    `container: auto` goes on in its container."""

    type: Literal["code_interpreter_call"]
    id: str
    code: str | None = None
    container_id: str
    outputs: list[dict[str, Any]] | None = None
    status: str = "completed"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type")
        if kind is None and "role" in value:
            return "message"  # an "easy" message: {role, content}
        return kind if isinstance(kind, str) else ""
    return ""


KNOWN: dict[str, type[BaseModel]] = {"message": MessageIn, "function_call": FunctionCallIn,
         "function_call_output": FunctionCallOutputIn, "custom_tool_call": CustomToolCallIn,
         "custom_tool_call_output": CustomToolCallOutputIn, "item_reference": ItemReference,
         "reasoning": ReasoningIn, "file_search_call": FileSearchCallIn,
         "code_interpreter_call": CodeInterpreterCallIn}

# Items OpenAI defines that only its hosted tools make: refused by name, not as unknown.
HOSTED = {"web_search_call", "computer_call", "computer_call_output", "image_generation_call",
          "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
          "apply_patch_call", "apply_patch_call_output", "mcp_call", "mcp_list_tools",
          "mcp_approval_request", "mcp_approval_response", "tool_search_call",
          "tool_search_output", "compaction"}


# Ids are stored in 64-character columns, as every object id is.
ID_LENGTH = 64


def parse_items(raw: list[Any], param: str) -> list[ItemJson]:
    """Validated items in their stored shape; `item_reference`s are kept for the service to
    resolve. A bad item is a 400 naming it (`input[2].content[0].type`)."""
    out = []
    for i, value in enumerate(raw):
        item = _stored(_parse(value, f"{param}[{i}]"), f"{param}[{i}]")
        if len(str(item["id"])) > ID_LENGTH:
            raise InvalidRequest(f"Invalid '{param}[{i}].id': an item id may be at most "
                                 f"{ID_LENGTH} characters long.", param=f"{param}[{i}].id")
        out.append(item)
    return out


def _parse(value: Any, where: str) -> BaseModel:
    kind = _kind(value)
    model = KNOWN.get(kind)
    if model is None:
        if kind in HOSTED:
            raise InvalidRequest(f"Items of type '{kind}' are not supported: {OFFLINE}, without "
                                 "that hosted tool.", param=f"{where}.type")
        raise InvalidRequest(f"Invalid value for '{where}': expected an item with a known "
                             f"'type' (message, function_call, function_call_output, "
                             f"item_reference...), got {kind or 'none'}.", param=where)
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid_part(where, exc) from None


def _stored(item: BaseModel, where: str) -> ItemJson:
    if isinstance(item, MessageIn):
        message: ItemJson = {"id": item.id or new_id("message"), "type": "message",
                             "role": item.role, "status": "completed",
                             "content": _content(item, where)}
        if item.phase is not None:
            message["phase"] = item.phase
        return message
    if isinstance(item, FunctionCallIn):
        return _with_namespace(item.namespace, {
            "id": item.id or new_id("function_call"), "type": "function_call",
            "call_id": item.call_id, "name": item.name, "arguments": item.arguments,
            "status": "completed"})
    if isinstance(item, FunctionCallOutputIn | CustomToolCallOutputIn):
        return {"id": item.id or new_id(item.type), "type": item.type,
                "call_id": item.call_id, "output": _output(item.output, f"{where}.output"),
                "status": "completed"}
    if isinstance(item, CustomToolCallIn):
        return _with_namespace(item.namespace, {
            "id": item.id or new_id("custom_tool_call"), "type": "custom_tool_call",
            "call_id": item.call_id, "name": item.name, "input": item.input,
            "status": "completed"})
    if isinstance(item, ReasoningIn):
        return {"id": item.id or new_id("reasoning"), "type": "reasoning",
                "summary": [{"type": "summary_text", "text": p.text} for p in item.summary]}
    if isinstance(item, FileSearchCallIn):
        return {"id": item.id, "type": "file_search_call", "status": item.status,
                "queries": list(item.queries), "results": item.results}  # type: ignore[dict-item]
    if isinstance(item, CodeInterpreterCallIn):
        return {"id": item.id, "type": "code_interpreter_call", "status": item.status,
                "code": item.code, "container_id": item.container_id,
                "outputs": item.outputs}  # type: ignore[dict-item]
    assert isinstance(item, ItemReference)
    return {"type": "item_reference", "id": item.id}


def _with_namespace(namespace: str | None, item: ItemJson) -> ItemJson:
    if namespace is not None:
        item["namespace"] = namespace
    return item


def _content(item: MessageIn, where: str) -> list[Any]:
    text_type = "output_text" if item.role == "assistant" else "input_text"
    if isinstance(item.content, str):
        return [_text_part(text_type, item.content)]
    out: list[Any] = []
    for j, part in enumerate(item.content):
        at = f"{where}.content[{j}]"
        if isinstance(part, InputImage):
            raise InvalidRequest(f"Image inputs are not supported: {OFFLINE} on a text-only "
                                 "model.", param=f"{at}.type")
        if isinstance(part, InputFile):
            raise InvalidRequest("File inputs in messages are not supported yet: attach the "
                                 "file to a vector store and use file_search.", param=at)
        if isinstance(part, Refusal):
            out.append({"type": "refusal", "refusal": part.refusal})
        elif isinstance(part, OutputText) or item.role == "assistant":
            out.append(_text_part("output_text", part.text))
        else:
            out.append(_text_part("input_text", part.text))
    return out


def _text_part(kind: str, text: str) -> dict[str, Any]:
    if kind == "output_text":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def _output(output: str | list[Part], where: str) -> str:
    """A function output as text: the SDK also sends it as parts (text only, offline)."""
    if isinstance(output, str):
        return output
    texts = []
    for j, part in enumerate(output):
        if not isinstance(part, InputText | OutputText):
            raise InvalidRequest("Function outputs may hold text parts only here.",
                                 param=f"{where}[{j}].type")
        texts.append(part.text)
    return "".join(texts)
