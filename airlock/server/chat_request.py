"""A Chat Completions body as the service's command: content flattened to text, choices of
tools made explicit, and what cannot be served refused with the parameter named."""

from __future__ import annotations

from airlock.errors import InvalidRequest
from airlock.server.wire.chat import (
    AllowedTools,
    AssistantMessage,
    ChatCompletionCreate,
    ChatFunctionTool,
    ChatMessageIn,
    ImagePart,
    NamedToolChoice,
    RefusalPart,
    TextPart,
    ToolMessage,
    UserMessage,
)
from airlock.server.wire.common import JsonObjectFormat, JsonSchemaResponseFormat
from airlock.service.chat_commands import (
    ChatCommand,
    ChatMessage,
    Controls,
    Function,
    FunctionCall,
    JsonObject,
)

OFFLINE = "airlock serves models offline"


def to_command(body: ChatCompletionCreate) -> ChatCommand:
    _refuse_unservable(body)
    functions = tuple(_functions(body))
    if body.logprobs is not True and body.top_logprobs is not None:
        raise InvalidRequest("top_logprobs requires logprobs to be true.", param="top_logprobs")
    fmt = body.response_format
    return ChatCommand(
        model=body.model,
        messages=tuple(_message(i, m) for i, m in enumerate(body.messages)),
        functions=functions,
        tool_choice=_tool_choice(body, functions),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature, top_p=body.top_p,
        seed=body.seed,
        controls=Controls(
            stop=(body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ()),
            frequency_penalty=body.frequency_penalty or 0.0,
            presence_penalty=body.presence_penalty or 0.0,
            logit_bias=_logit_bias(body.logit_bias),
            top_logprobs=(body.top_logprobs or 0) if body.logprobs else None),
        n=body.n or 1,
        json_object=isinstance(fmt, JsonObjectFormat),
        json_schema=_schema(fmt),
    )


def _schema(fmt: object) -> JsonObject | None:
    """A json_schema format's schema (validated JSON: JsonSchema checked it); none: any object."""
    if not isinstance(fmt, JsonSchemaResponseFormat):
        return None
    schema: JsonObject = {"type": "object"}
    if fmt.json_schema.schema_:
        schema = dict(fmt.json_schema.schema_)
    return schema


def _refuse_unservable(body: ChatCompletionCreate) -> None:
    if body.modalities and "audio" in body.modalities:
        raise InvalidRequest(f"Audio output is not available: {OFFLINE} with text output only.",
                             param="modalities")
    for param in ("audio", "prediction", "web_search_options"):
        if getattr(body, param) is not None:
            what = {"audio": "Audio output", "prediction": "Predicted outputs",
                    "web_search_options": "Web search"}[param]
            raise InvalidRequest(f"{what} is not available: {OFFLINE}, without that feature.",
                                 param=param)


def _functions(body: ChatCompletionCreate) -> list[Function]:
    out = []
    for i, tool in enumerate(body.tools or []):
        if not isinstance(tool, ChatFunctionTool):
            raise InvalidRequest("Custom tools are not supported: declare a function tool.",
                                 param=f"tools[{i}].type")
        f = tool.function
        out.append(Function(f.name, f.description, f.parameters, f.strict))
    return out


def _tool_choice(body: ChatCompletionCreate, functions: tuple[Function, ...]
                 ) -> str | dict[str, str]:
    choice = body.tool_choice
    if choice is None:
        return "auto"
    if not functions and choice != "none":
        raise InvalidRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed "
                             "when 'tools' are specified.", param="tool_choice")
    if isinstance(choice, AllowedTools):
        raise InvalidRequest("tool_choice 'allowed_tools' is not supported; name one function "
                             "or send only the tools that may be called.", param="tool_choice")
    if isinstance(choice, NamedToolChoice):
        if choice.function.name not in {f.name for f in functions}:
            raise InvalidRequest(f"Invalid value for 'tool_choice': function "
                                 f"'{choice.function.name}' is not among the tools.",
                                 param="tool_choice")
        return {"name": choice.function.name}
    return choice


def _logit_bias(bias: dict[str, int] | None) -> dict[int, float]:
    out: dict[int, float] = {}
    for key, value in (bias or {}).items():
        if not key.isdigit():
            raise InvalidRequest(f"Invalid key in 'logit_bias': '{key}' is not a token id.",
                                 param="logit_bias")
        out[int(key)] = float(value)
    return out


def _message(i: int, m: ChatMessageIn) -> ChatMessage:
    if isinstance(m, UserMessage):
        return ChatMessage("user", _user_text(i, m))
    if isinstance(m, AssistantMessage):
        if m.audio is not None:
            raise InvalidRequest(f"Audio is not available: {OFFLINE} with text only.",
                                 param=f"messages[{i}].audio")
        content = m.content
        text = content if isinstance(content, str) else "\n".join(
            p.text if isinstance(p, TextPart) else p.refusal
            for p in content or [] if isinstance(p, TextPart | RefusalPart))
        calls = tuple(FunctionCall(c.id, c.function.name, c.function.arguments)
                      for c in m.tool_calls or [])
        return ChatMessage("assistant", text or m.refusal or "", calls)
    if isinstance(m, ToolMessage):
        return ChatMessage("tool", _plain(m.content), tool_call_id=m.tool_call_id)
    return ChatMessage(m.role, _plain(m.content))


def _plain(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "\n".join(p.text for p in content)


def _user_text(i: int, m: UserMessage) -> str:
    if isinstance(m.content, str):
        return m.content
    texts = []
    for j, part in enumerate(m.content):
        if isinstance(part, TextPart):
            texts.append(part.text)
            continue
        what = {"image_url": "Image", "input_audio": "Audio", "file": "File"}[part.type]
        hint = " (a text-only model)" if isinstance(part, ImagePart) else ""
        raise InvalidRequest(f"{what} input is not supported by this model{hint}: send the "
                             "content as text.", param=f"messages[{i}].content[{j}]")
    return "\n".join(texts)
