"""`prompt: {"id": "asst_…", "variables": {...}}`: an existing assistant as a response's prompt
(an airlock extension: OpenAI's prompts live in its dashboard, and this server's prompt store is
its assistants, so an app migrating from Assistants keeps them). The assistant gives the model
(unless the request names one), its instructions with `{{name}}` variables filled in (the
request's `instructions` follow them), its function tools (unless the request sends tools) and
its sampling defaults."""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy import Connection

from airlock.engine.core.items import Function
from airlock.errors import InvalidRequest, Missing
from airlock.service.response_commands import ResponseCommand
from airlock.store import crud
from airlock.store.records import AssistantRow, JsonObject, JsonValue
from airlock.store.tables import Assistant

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def apply(conn: Connection, cmd: ResponseCommand) -> ResponseCommand:
    if cmd.prompt_id is None:
        return cmd
    row = crud.find(conn, Assistant, cmd.prompt_id)
    if row is None:
        raise Missing(f"Prompt with id '{cmd.prompt_id}' not found.", param="prompt.id")
    assistant: AssistantRow = crud.to_object(Assistant, row)
    own_tools = bool(cmd.functions or cmd.echo.get("tools") or cmd.file_search)
    file_search = None if own_tools else _file_search(assistant)
    if not own_tools and any(t["type"] == "code_interpreter" for t in assistant["tools"]):
        raise InvalidRequest("The prompt's code_interpreter tool is not supported in responses "
                             "yet: send the request's own tools.", param="prompt.id")
    variables = cmd.prompt_variables
    text = _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)),
                         assistant["instructions"] or "")
    instructions = "\n\n".join(p for p in (text, cmd.instructions or "") if p) or None
    functions = cmd.functions
    echo = dict(cmd.echo)
    if not echo.get("tools"):
        specs = [t["function"] for t in assistant["tools"] if t["type"] == "function"]
        functions = tuple(Function(f["name"], f.get("description"), f.get("parameters"),
                                   f.get("strict")) for f in specs)
        tools: list[JsonValue] = [{"type": "function", "name": f.name,
                                   "description": f.description, "parameters": f.parameters,
                                   "strict": f.strict} for f in functions]
        if file_search is not None:
            tools.append({"type": "file_search", **file_search, "ranking_options": {
                "ranker": "auto", "score_threshold": file_search["score_threshold"],
                "hybrid_search": None}})
        echo["tools"] = tools
    echo["instructions"] = instructions
    echo["prompt"] = {"id": cmd.prompt_id, "variables": dict(variables), "version": None}
    return dataclasses.replace(
        cmd, model=cmd.model or assistant["model"], instructions=instructions,
        functions=functions, file_search=cmd.file_search or file_search,
        temperature=cmd.temperature if cmd.temperature is not None else assistant["temperature"],
        top_p=cmd.top_p if cmd.top_p is not None else assistant["top_p"], echo=echo)


def _file_search(assistant: AssistantRow) -> JsonObject | None:
    """The assistant's file_search tool as a response's: its tool settings, searching the
    stores of its tool_resources (a response has no tool_resources). None without the tool."""
    tool = next((t for t in assistant["tools"] if t["type"] == "file_search"), None)
    if tool is None:
        return None
    resources = assistant.get("tool_resources") or {}
    stores: list[JsonValue] = list((resources.get("file_search") or {}).get("vector_store_ids")
                                   or [])
    if not stores:
        raise InvalidRequest("The prompt's file_search tool has no vector stores (a response "
                             "searches the assistant's tool_resources stores): attach one, or "
                             "send the request's own file_search tool.", param="prompt.id")
    cfg = tool.get("file_search") or {}
    ranking = cfg.get("ranking_options") or {}
    return {"vector_store_ids": stores, "max_num_results": cfg.get("max_num_results") or 20,
            "score_threshold": float(ranking.get("score_threshold") or 0.0), "filters": None}
