"""Object ids in OpenAI's shapes: a type prefix and a random base62 tail."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

PREFIXES = {
    "assistant": "asst_",
    "thread": "thread_",
    "message": "msg_",
    "run": "run_",
    "step": "step_",
    "call": "call_",
    "vector_store": "vs_",
    "file": "file-",
    "file_batch": "vsfb_",
    "chat_completion": "chatcmpl-",
    "response": "resp_",
    "conversation": "conv_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "custom_tool_call": "ctc_",
    "custom_tool_call_output": "ctco_",
    "reasoning": "rs_",
    "file_search_call": "fs_",
    "code_interpreter_call": "ci_",
    "container": "cntr_",
    "container_file": "cfile_",
}


def new_id(kind: str) -> str:
    prefix = PREFIXES[kind]
    size = 22 if prefix == "file-" else 24
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(size))
