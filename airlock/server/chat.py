"""/v1/chat/completions"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import StreamingResponse

from airlock.errors import AirlockError
from airlock.server.chat_request import to_command
from airlock.server.deps import services
from airlock.server.json_response import WireJSON
from airlock.server.wire.chat import ChatCompletionCreate
from airlock.server.wire.chat_objects import Chunks, completion
from airlock.service import Services
from airlock.service.chat_commands import ChatEvent, ChatResult, ChoiceEnd, ChoiceText

router = APIRouter(prefix="/v1/chat/completions")


@router.post("")
async def create_chat_completion(body: ChatCompletionCreate,
                                 svc: Services = Depends(services)) -> Any:
    cmd = to_command(body)
    if not body.stream:
        return WireJSON(completion(await svc.chat.create(cmd)))
    # Errors found before the first token (a prompt too long, a model that cannot load) are
    # plain JSON errors; later ones are an error event, as the real API streams them.
    result, events = await svc.chat.stream(cmd)
    chunks = Chunks(result, bool(body.stream_options and body.stream_options.include_usage))
    return StreamingResponse(_sse(chunks, events), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _sse(chunks: Chunks, events: AsyncIterator[ChatEvent | ChatResult]
               ) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            if isinstance(event, ChoiceText):
                out = chunks.text(event.index, event.text)
            elif isinstance(event, ChoiceEnd):
                out = chunks.end(event.choice)
            else:
                out = chunks.usage(event)
            for chunk in out:
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except AirlockError as exc:
        error = {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
        yield b"data: " + orjson.dumps({"error": error}) + b"\n\n"
        return
    yield b"data: [DONE]\n\n"
