"""Function tools in prompts. For chat templates that know nothing of tools (call_formats.GENERIC):
a generic tool section in the system prompt, and tool rounds written as plain turns; the call
format is the widespread `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, which small
instruction-tuned models have often seen. For templates that render tools themselves: the rounds
in the shape those templates expect (`native_messages`)."""

from __future__ import annotations

import json
from typing import Any

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def tool_section(tools: list[dict[str, Any]], tool_choice: str | dict) -> str:
    lines = [
        "You can call these functions. Each is described as JSON:",
        "<tools>",
        *(json.dumps({"name": t["name"], "description": t.get("description") or "",
                      "parameters": t.get("parameters") or {"type": "object"}}) for t in tools),
        "</tools>",
        f'To call a function, reply with {CALL_OPEN}{{"name": <function name>, "arguments": '
        f"<arguments as JSON>}}{CALL_CLOSE} and nothing else. Function results come back in "
        "<tool_response> blocks.",
    ]
    if tool_choice == "auto":
        lines.append("If no function is needed, answer the user directly.")
    return "\n".join(lines)


def call_text(name: str, arguments: str) -> str:
    return f'{CALL_OPEN}\n{{"name": {json.dumps(name)}, "arguments": {arguments}}}\n{CALL_CLOSE}'


def plain_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                   tool_choice: str | dict) -> list[dict[str, str]]:
    """Messages with only system/user/assistant roles and string content, tools rendered in."""
    out: list[dict[str, str]] = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            text = "\n".join(call_text(c["name"], c["arguments"]) for c in m["tool_calls"])
            out.append({"role": "assistant", "content": text})
        elif m["role"] == "tool":
            body = json.dumps({"name": m.get("name", ""), "content": m["content"]})
            out.append({"role": "user", "content": f"<tool_response>\n{body}\n</tool_response>"})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    if tools and tool_choice != "none":
        section = tool_section(tools, tool_choice)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{section}"}
        else:
            out.insert(0, {"role": "system", "content": section})
    return out


def native_messages(messages: list[dict[str, Any]], one_call_per_message: bool = False
                    ) -> list[dict[str, Any]]:
    """Tool rounds in the Hugging Face chat shape that tool-aware templates expect: an
    assistant message with `tool_calls` (arguments as objects), then one `tool` message per
    result, its content the output as it is. With `one_call_per_message` (Llama 3.x templates
    refuse more than one call per message), each call is its own assistant message, followed
    by its result."""
    results = {m.get("tool_call_id"): m for m in messages if m["role"] == "tool"}
    placed: set[str] = set()
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = [{"id": c["id"], "type": "function",
                      "function": {"name": c["name"], "arguments": json.loads(c["arguments"])}}
                     for c in m["tool_calls"]]
            if not one_call_per_message:
                out.append({"role": "assistant", "content": m.get("content") or "",
                            "tool_calls": calls})
                continue
            if m.get("content"):
                out.append({"role": "assistant", "content": m["content"]})
            for call in calls:
                out.append({"role": "assistant", "content": "", "tool_calls": [call]})
                result = results.get(call["id"])
                if result is not None:
                    out.append(_tool_message(result))
                    placed.add(call["id"])
        elif m["role"] == "tool":
            if m.get("tool_call_id") not in placed:
                out.append(_tool_message(m))
        else:
            out.append(dict(m, content=m.get("content") or ""))
    return out


def _tool_message(m: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": m.get("tool_call_id") or "", "name": m.get("name", ""),
            "content": m.get("content") or ""}
