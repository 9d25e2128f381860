"""A Responses body as the service's command: items in their stored shape, tools and
tool_choice made explicit, and what cannot be served refused with the parameter named."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airlock.errors import InvalidRequest
from airlock.server.errors import invalid_part
from airlock.server.wire.common import FunctionDefinition
from airlock.server.wire.conversations import INCLUDABLE
from airlock.server.wire.response_items import parse_items
from airlock.server.wire.responses import (
    CodeInterpreterTool,
    ConversationRef,
    FileSearchRanking,
    FileSearchTool,
    InputTokensCount,
    ResponseCreate,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)
from airlock.service.chat_commands import Function, JsonObject
from airlock.service.response_commands import JsonValue, ResponseCommand

OFFLINE = "airlock serves models offline"

# Hosted tools OpenAI runs on its side: none can be served without its network.
HOSTED = {
    "web_search": "Web search", "web_search_preview": "Web search",
    "web_search_2025_08_26": "Web search", "web_search_preview_2025_03_11": "Web search",
    "computer": "Computer use", "computer_use_preview": "Computer use",
    "computer_use": "Computer use", "image_generation": "Image generation",
    "mcp": "Remote MCP", "local_shell": "The local_shell tool", "shell": "The shell tool",
    "apply_patch": "The apply_patch built-in tool", "tool_search": "Tool search",
    "programmatic_tool_calling": "Programmatic tool calling",
}
SEARCH_RESULTS = "file_search_call.results"
CODE_OUTPUTS = "code_interpreter_call.outputs"

# A custom (freeform) tool is offered to the model as a function with one string argument.
CUSTOM_PARAMETERS: JsonObject = {
    "type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"],
    "additionalProperties": False}


class _FunctionTool(FunctionDefinition):
    """A flat function tool: the definition every API shares, plus the fields Responses adds
    (defer_loading, output_schema...), which are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)
    type: str


class _CustomTool(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: str
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    format: dict[str, Any] | None = None


def to_command(body: ResponseCreate) -> ResponseCommand:
    _refuse_unservable(body)
    tools = _tools(body.tools)
    functions, custom = tools.functions, tools.custom
    choice = _tool_choice(body.tool_choice, functions, custom, tools.builtins)
    offered = _offered(body.tool_choice, functions)
    fmt = body.text.format if body.text else None
    return ResponseCommand(
        model=body.model,
        input=_input(body.input),
        instructions=body.instructions,
        previous_response_id=body.previous_response_id,
        conversation_id=_conversation(body),
        store=body.store is not False, background=bool(body.background),
        functions=tuple(offered),
        custom=frozenset(custom),
        namespaces=tools.namespaces,
        tool_choice=choice,
        parallel_tool_calls=body.parallel_tool_calls is not False,
        max_output_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_logprobs=body.top_logprobs,
        seed=body.seed,
        json_object=isinstance(fmt, TextFormatJsonObject),
        json_schema=(dict(fmt.schema_ or {"type": "object"})
                     if isinstance(fmt, TextFormatJsonSchema) else None),
        truncate=body.truncation == "auto",
        prompt_id=_prompt_id(body.prompt),
        prompt_variables=_prompt_variables(body.prompt),
        echo=_echo(body, tools.echo),
        file_search=tools.file_search,
        search_results=SEARCH_RESULTS in (body.include or []),
        code_interpreter=tools.code_interpreter,
        code_outputs=CODE_OUTPUTS in (body.include or []),
        max_tool_calls=body.max_tool_calls,
    )


def _prompt_id(prompt: dict[str, Any] | None) -> str | None:
    if prompt is None:
        return None
    prompt_id = prompt.get("id")
    if not isinstance(prompt_id, str) or not prompt_id:
        raise InvalidRequest("Missing required parameter: 'prompt.id'.", param="prompt.id")
    return prompt_id


def _prompt_variables(prompt: dict[str, Any] | None) -> dict[str, str]:
    """Variables as text: a string, or an input_text part (images and files need a model and
    inputs this server does not take)."""
    out: dict[str, str] = {}
    raw = (prompt or {}).get("variables") or {}
    if not isinstance(raw, dict):
        raise InvalidRequest("Invalid 'prompt.variables': expected an object.",
                             param="prompt.variables")
    for name, value in raw.items():
        if isinstance(value, dict) and value.get("type") == "input_text":
            value = value.get("text")
        if not isinstance(value, str):
            raise InvalidRequest(f"Invalid 'prompt.variables.{name}': a string or an "
                                 "input_text part.", param=f"prompt.variables.{name}")
        out[str(name)] = value
    return out


def to_count_command(body: InputTokensCount) -> ResponseCommand:
    tools = _tools(body.tools)
    functions, custom = tools.functions, tools.custom
    return ResponseCommand(
        model=body.model, input=_input(body.input), instructions=body.instructions,
        previous_response_id=body.previous_response_id,
        conversation_id=_conversation(body), functions=tuple(functions),
        custom=frozenset(custom),
        tool_choice=_tool_choice(body.tool_choice, functions, custom, tools.builtins),
        truncate=body.truncation == "auto", file_search=tools.file_search)


def _offered(choice: str | dict[str, Any] | None, functions: list[Function]) -> list[Function]:
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        _, allowed = _allowed(choice, {f.name for f in functions})
        return [f for f in functions if f.name in allowed]
    return functions


def _input(value: str | list[dict[str, Any]] | None) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return parse_items([{"role": "user", "content": value}], "input")
    return parse_items(value, "input")


def _conversation(body: ResponseCreate | InputTokensCount) -> str | None:
    conv = body.conversation
    if conv is not None and body.previous_response_id is not None:
        raise InvalidRequest("Parameter 'previous_response_id' cannot be used in conjunction "
                             "with parameter 'conversation'.", param="previous_response_id")
    return conv.id if isinstance(conv, ConversationRef) else conv


def _refuse_unservable(body: ResponseCreate) -> None:
    for i, value in enumerate(body.include or []):
        if value not in INCLUDABLE:
            raise InvalidRequest(f"Invalid value for 'include[{i}]': '{value}'. Supported values "
                                 "are: " + ", ".join(f"'{v}'" for v in INCLUDABLE) + ".",
                                 param="include")
    if body.moderation is not None:
        raise InvalidRequest(f"Moderation is not available: {OFFLINE}, without a moderation "
                             "model.", param="moderation")
    if body.context_management:
        raise InvalidRequest("Context management (server-side compaction) is not supported; "
                             "use truncation 'auto' to drop the oldest items.",
                             param="context_management")


@dataclass
class _Tools:
    """The functions offered (custom tools among them), the custom tools' names, the namespace
    of each function declared in one, and the tools as the response object echoes them."""

    functions: list[Function] = field(default_factory=list)
    custom: list[str] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)
    echo: list[JsonValue] = field(default_factory=list)
    # The built-in tools, as the command carries them (service.responses).
    file_search: JsonObject | None = None
    code_interpreter: JsonObject | None = None

    @property
    def builtins(self) -> set[str]:
        return {name for name, tool in (("file_search", self.file_search),
                                        ("code_interpreter", self.code_interpreter))
                if tool is not None}


def _tools(tools: list[dict[str, Any]] | None) -> _Tools:
    out = _Tools()
    for i, raw in enumerate(tools or []):
        kind = raw.get("type") if isinstance(raw, dict) else None
        where = f"tools[{i}]"
        if kind == "namespace":
            # A group of the client's own tools (Codex groups its sub-agent tools so): each is
            # offered, and its calls name the namespace.
            name = raw.get("name")
            inner = raw.get("tools")
            if not isinstance(name, str) or not name or not isinstance(inner, list):
                raise InvalidRequest("A namespace tool needs a 'name' and a list of 'tools'.",
                                     param=where)
            echoed: list[JsonValue] = [_tool(out, t, f"{where}.tools[{j}]", name)
                                       for j, t in enumerate(inner)]
            out.echo.append({"type": "namespace", "name": name,
                             "description": raw.get("description"), "tools": echoed})
        elif kind == "file_search":
            out.echo.append(_file_search(out, raw, where))
        elif kind == "code_interpreter":
            out.echo.append(_code_interpreter(out, raw, where))
        else:
            out.echo.append(_tool(out, raw, where, None))
    return out


def _file_search(out: _Tools, raw: dict[str, Any], where: str) -> JsonObject:
    """The file_search tool: the command's search settings; the echo with OpenAI's defaults.
    `hybrid_search` weights are echoed: airlock's hybrid ranking fuses the two rankings by rank
    (docs/wire/responses.md)."""
    if out.file_search is not None:
        raise InvalidRequest("Only one file_search tool may be given.", param=f"{where}.type")
    tool = _validate(FileSearchTool, raw, where)
    assert isinstance(tool, FileSearchTool)
    ranking = tool.ranking_options or FileSearchRanking()
    filters = tool.filters.model_dump(mode="json") if tool.filters is not None else None
    out.file_search = {"vector_store_ids": list(tool.vector_store_ids),
                       "max_num_results": tool.max_num_results,
                       "score_threshold": ranking.score_threshold, "filters": filters}
    return {"type": "file_search", "vector_store_ids": list(tool.vector_store_ids),
            "filters": filters, "max_num_results": tool.max_num_results,
            "ranking_options": ranking.model_dump(mode="json")}


def _tool(out: _Tools, raw: Any, where: str, namespace: str | None) -> JsonObject:
    """Adds one function or custom tool to `out`; returns its echo."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in HOSTED:
        raise InvalidRequest(f"{HOSTED[kind]} is not available: {OFFLINE}, without that "
                             "hosted tool.", param=f"{where}.type")
    echo: JsonObject
    if kind == "function":
        f = _validate(_FunctionTool, raw, where)
        assert isinstance(f, _FunctionTool)
        out.functions.append(Function(f.name, f.description, f.parameters, f.strict))
        echo = {"type": "function", "name": f.name, "description": f.description,
                "parameters": f.parameters, "strict": f.strict}
    elif kind == "custom":
        c = _validate(_CustomTool, raw, where)
        assert isinstance(c, _CustomTool)
        fmt = c.format or {"type": "text"}
        if fmt.get("type") not in ("text", "grammar"):
            raise InvalidRequest("A custom tool's format is 'text' or 'grammar'.",
                                 param=f"{where}.format.type")
        # A grammar format (Codex's apply_patch sends a Lark one) is echoed, not enforced: the
        # model fills the one string argument freely (docs/wire/responses.md).
        out.functions.append(Function(c.name, c.description, CUSTOM_PARAMETERS))
        out.custom.append(c.name)
        echo = {"type": "custom", "name": c.name, "description": c.description, "format": fmt}
    else:
        raise InvalidRequest(f"Invalid value for '{where}.type': {kind!r} is not a tool type.",
                             param=f"{where}.type")
    name = out.functions[-1].name
    if name in {f.name for f in out.functions[:-1]}:
        raise InvalidRequest(f"Duplicate tool name '{name}'.", param=f"{where}.name")
    if namespace is not None:
        out.namespaces[name] = namespace
    return echo


def _validate(model: type[BaseModel], raw: dict[str, Any], where: str) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid_part(where, exc) from None


def _code_interpreter(out: _Tools, raw: dict[str, Any], where: str) -> JsonObject:
    """The code_interpreter tool: a container's id, or `auto` (the chain's or conversation's
    container, else a new one with `file_ids` copied in)."""
    if out.code_interpreter is not None:
        raise InvalidRequest("Only one code_interpreter tool may be given.",
                             param=f"{where}.type")
    tool = _validate(CodeInterpreterTool, raw, where)
    assert isinstance(tool, CodeInterpreterTool)
    if isinstance(tool.container, str):
        out.code_interpreter = {"container": tool.container}
        return {"type": "code_interpreter", "container": tool.container}
    auto = tool.container
    if (auto.network_policy or {}).get("type", "disabled") != "disabled":
        raise InvalidRequest("A container's network is always disabled here (airlock runs code "
                             "offline): an allowlist cannot be served.",
                             param=f"{where}.container.network_policy")
    out.code_interpreter = {"auto": {"file_ids": list(auto.file_ids),
                                     "memory_limit": auto.memory_limit or "1g"}}
    return {"type": "code_interpreter",
            "container": auto.model_dump(mode="json", exclude_none=True)}


def _tool_choice(choice: str | dict[str, Any] | None, functions: list[Function],
                 custom: list[str], builtins: set[str]) -> str | dict[str, str]:
    names = {f.name for f in functions}
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise InvalidRequest(f"Invalid value for 'tool_choice': {choice!r}.",
                                 param="tool_choice")
        if choice == "required" and not functions and not builtins:
            raise InvalidRequest("tool_choice 'required' needs at least one tool.",
                                 param="tool_choice")
        return choice
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name = choice.get("name")
        if not isinstance(name, str) or name not in names or (
                (kind == "custom") != (name in custom)):
            raise InvalidRequest(f"Invalid value for 'tool_choice': no {kind} tool named "
                                 f"{name!r} among the tools.", param="tool_choice.name")
        return {"name": name}
    if kind == "allowed_tools":
        mode, _ = _allowed(choice, names)
        return mode
    if kind in builtins:
        return {"name": kind}  # forced for the first round, as in runs (engine.offering)
    if kind in HOSTED or kind in ("file_search", "code_interpreter"):
        raise InvalidRequest(f"tool_choice {kind!r} names a tool this request cannot use.",
                             param="tool_choice.type")
    raise InvalidRequest(f"Invalid value for 'tool_choice.type': {kind!r}.",
                         param="tool_choice.type")


def _allowed(choice: dict[str, Any], names: set[str]) -> tuple[str, set[str]]:
    """allowed_tools: the mode ("auto" or "required") and the names of the tools the model may
    call; the others stay declared (and echoed) but are not offered."""
    mode = choice.get("mode", "auto")
    listed = choice.get("tools")
    if mode not in ("auto", "required") or not isinstance(listed, list) or not listed:
        raise InvalidRequest("tool_choice 'allowed_tools' needs 'mode' (auto or required) "
                             "and a non-empty 'tools' list.", param="tool_choice")
    allowed = set()
    for j, tool in enumerate(listed):
        name = tool.get("name") if isinstance(tool, dict) else None
        if name not in names:
            raise InvalidRequest(f"tool_choice.tools[{j}] names no tool of the request.",
                                 param=f"tool_choice.tools[{j}]")
        allowed.add(name)
    return mode, allowed


def _echo(body: ResponseCreate, tools: list[JsonValue]) -> JsonObject:
    text: JsonObject = {"format": {"type": "text"}}
    if body.text is not None:
        text = body.text.model_dump(mode="json", by_alias=True, exclude_none=True)
        text.setdefault("format", {"type": "text"})
    tool_choice: Any = body.tool_choice if body.tool_choice is not None else "auto"
    return {
        "instructions": body.instructions,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "text": text,
        "truncation": body.truncation or "disabled",
        "metadata": body.metadata or {},
        "temperature": body.temperature if body.temperature is not None else 1.0,
        "top_p": body.top_p if body.top_p is not None else 1.0,
        "top_logprobs": body.top_logprobs or 0,
        "max_output_tokens": body.max_output_tokens,
        "max_tool_calls": body.max_tool_calls,
        "user": body.user,
        "safety_identifier": body.safety_identifier,
        "prompt_cache_key": body.prompt_cache_key,
        "prompt_cache_retention": body.prompt_cache_retention,
        "service_tier": body.service_tier or "default",
        "reasoning": body.reasoning or {"effort": None, "summary": None},
        "store": body.store is not False,
        "background": bool(body.background),
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
    }
