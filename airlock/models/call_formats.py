"""How a model family writes tool calls, chosen from the text of its chat template.

llama.cpp's server picks its tool-call handler the same way (common/chat.cpp); the families:

- HERMES (Hermes 2 Pro, Qwen 2.5, and any template that mentions `<tool_call>`): the template
  renders `tools` itself; a call is `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`,
  several in a row separated by a newline; results go back in the template's `tool` role (Qwen:
  `<tool_response>` blocks in a user turn).
- LLAMA3 (Llama 3.1 / 3.2 / 3.3: an `ipython` header): the whole reply is one bare JSON object
  `{"name": ..., "parameters": {...}}`, one call per assistant message (the templates refuse
  more); 3.1 also opens calls with `<|python_tag|>`. Results go back as `ipython` turns.
- GENERIC (templates that know no tools, or whose format is none of the above): the tools are
  described in a section of the system prompt (function_prompt.tool_section), calls are written
  like HERMES's, and tool rounds are plain turns with `<tool_response>` blocks.

Whatever the format, a model may write a call in another family's syntax: every opener below
starts a call (or, when no call may be made, ends the reply), and a JSON object starting
`{"name"` at the very start of a reply is one too (Qwen2.5-Coder writes its calls bare, or
fenced as ```json).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Texts that open a call anywhere in a reply (after leading whitespace).
CALL_OPENERS = ("<tool_call>", "<|python_tag|>")
# Texts that open a Python block: when a code-only function (code_interpreter) may be called,
# the block becomes its call, wherever in the reply it starts.
CODE_FENCES = ("```python", "```py\n")
# Texts that open a call at the very start of a reply, compared with all whitespace removed.
JSON_OPENERS = ('{"name"', '```json{"name"', '```{"name"')
# The same call spelled as a Python dict, as Qwen2.5-Coder-0.5B wrote one as its answer once its
# tool was withdrawn (`{'name': 'code_interpreter', "arguments": ...`): caught in the reply's
# text, not counted in the decision's opener probability.
TEXT_CALL_OPENERS = JSON_OPENERS + ("{'name'", "```json{'name'", "```{'name'")
# Markup of tool calls, tool results and chat templates: never part of a reply's text. A model
# that writes one (as plain text or as a special token) has left its reply.
MARKUP = (
    "</tool_call>", "<tool_response>", "</tool_response>", "<tools>", "</tools>",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>",
)
_TEMPLATE_TOKEN = re.compile(r"<\|[A-Za-z0-9_.\-]{1,40}\|>")


@dataclass(frozen=True)
class CallFormat:
    name: str
    # Tools and tool rounds go through the chat template (its `tools`, `tool_calls`, `tool` role).
    native: bool
    # A call is written as: begin (up to `{"name":`), a space and the JSON name,
    # `, "<args_key>": `, the arguments, end; calls of one turn are joined by separator.
    begin: str
    args_key: str
    end: str
    separator: str
    max_calls: int
    # Prior calls render one per assistant message, each followed by its result.
    one_call_per_message: bool
    # tool_choice "auto": the model calls when the probability that its reply starts with one of
    # these (JSON_OPENERS too for the first call) is at least `threshold`.
    openers: tuple[str, ...]
    threshold: float
    # The legacy decision of the generic format: the probability mass of the tokens whose text
    # starts with the first character of `<tool_call>` (kept for SmolLM2, whose threshold was
    # chosen on that measure).
    first_char_decision: bool = False

    def call_text(self, name: str, arguments: str) -> str:
        return f'{self.begin} {json.dumps(name)}, "{self.args_key}": {arguments}{self.end}'


# Thresholds chosen on the dev half of scripts/eval/tool_calls.py only (docs/tool_calls.md):
# SmolLM2 (generic) is best at 0.005; Qwen2.5 (hermes) is equally right from 0.0005 to 0.3.
# Llama 3 has no measured model here and shares hermes's value.
GENERIC = CallFormat(
    name="generic", native=False, begin='<tool_call>\n{"name":', args_key="arguments",
    end="}\n</tool_call>\n", separator="", max_calls=4, one_call_per_message=False,
    openers=("<tool_call>",), threshold=0.005, first_char_decision=True,
)
HERMES = CallFormat(
    name="hermes", native=True, begin='<tool_call>\n{"name":', args_key="arguments",
    end="}\n</tool_call>", separator="\n", max_calls=4, one_call_per_message=False,
    openers=("<tool_call>",), threshold=0.25,
)
LLAMA3 = CallFormat(
    name="llama3", native=True, begin='{"name":', args_key="parameters", end="}",
    separator="", max_calls=1, one_call_per_message=True,
    openers=("<|python_tag|>",), threshold=0.25,
)
FORMATS = {f.name: f for f in (GENERIC, HERMES, LLAMA3)}


def detect(template: str | None) -> CallFormat:
    """The call format of a chat template, from its text (as llama.cpp's server does)."""
    if not template or "tools" not in template:
        return GENERIC  # the template never shows the model its tools
    if "<tool_call>" in template:
        return HERMES
    if "<|start_header_id|>" in template and "ipython" in template:
        return LLAMA3
    return GENERIC  # renders tools, but in a syntax we do not decode: our own section instead


def markup(template: str | None) -> tuple[str, ...]:
    """Text that must never reach a reply: MARKUP, the call openers, and the `<|...|>` control
    texts the template itself writes."""
    found = _TEMPLATE_TOKEN.findall(template or "")
    return tuple(dict.fromkeys((*CALL_OPENERS, *MARKUP, *found)))


def advance(rest: str, piece: str, *, flexible: bool, started: bool) -> str | None:
    """What is left of an opener after the model writes `piece`: `rest` is the part of the
    opener not written yet. "" when the opener is complete (the piece may go on past it), None
    when the piece departs from it. Whitespace before an opener is allowed; `flexible` (the
    JSON openers) allows it anywhere inside, as JSON does."""
    i = 0
    for ch in piece:
        if i == len(rest):
            return ""
        if ch == rest[i]:
            i += 1
            started = True
        elif ch.isspace() and (flexible or not started):
            continue
        else:
            return None
    return rest[i:]


def squeeze(text: str) -> str:
    """Text without whitespace: how JSON_OPENERS are compared."""
    return "".join(text.split())
