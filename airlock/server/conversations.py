"""/v1/conversations"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.wire.conversations import (
    ConversationCreate,
    ConversationUpdate,
    ItemsCreate,
    conversation_object,
    include_param,
    item_view,
)
from airlock.server.wire.response_items import parse_items
from airlock.service import PageParams, Services

router = APIRouter(prefix="/v1/conversations")


@router.post("")
async def create_conversation(body: ConversationCreate | None = None,
                              svc: Services = Depends(services)) -> WireJSON:
    body = body or ConversationCreate()
    items = parse_items(body.items, "items")
    row = await svc.conversations.create(items, body.metadata or {})
    return WireJSON(conversation_object(row))


@router.get("/{conversation_id}")
async def retrieve_conversation(conversation_id: str,
                                svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(conversation_object(await svc.conversations.retrieve(conversation_id)))


@router.post("/{conversation_id}")
async def update_conversation(conversation_id: str, body: ConversationUpdate,
                              svc: Services = Depends(services)) -> WireJSON:
    row = await svc.conversations.update(conversation_id, body.metadata or {})
    return WireJSON(conversation_object(row))


@router.delete("/{conversation_id}")
async def delete_conversation(conversation_id: str,
                              svc: Services = Depends(services)) -> WireJSON:
    await svc.conversations.delete(conversation_id)
    return deleted(conversation_id, "conversation.deleted")


@router.post("/{conversation_id}/items")
async def create_items(conversation_id: str, body: ItemsCreate,
                       include: list[str] = Depends(include_param),
                       svc: Services = Depends(services)) -> WireJSON:
    items = parse_items(body.items, "items")
    stored = await svc.conversations.create_items(conversation_id, items)
    # Everything added, in the order sent: one page, nothing beyond it.
    return list_page([item_view(item, include) for item in stored], False)


@router.get("/{conversation_id}/items")
async def list_items(conversation_id: str, page: PageParams = Depends(page_params()),
                     include: list[str] = Depends(include_param),
                     svc: Services = Depends(services)) -> WireJSON:
    items, more = await svc.conversations.page_items(conversation_id, page)
    return list_page([item_view(item, include) for item in items], more)


@router.get("/{conversation_id}/items/{item_id}")
async def retrieve_item(conversation_id: str, item_id: str,
                        include: list[str] = Depends(include_param),
                        svc: Services = Depends(services)) -> WireJSON:
    item = await svc.conversations.retrieve_item(conversation_id, item_id)
    return WireJSON(item_view(item, include))


@router.delete("/{conversation_id}/items/{item_id}")
async def delete_item(conversation_id: str, item_id: str,
                      svc: Services = Depends(services)) -> WireJSON:
    row = await svc.conversations.delete_item(conversation_id, item_id)
    return WireJSON(conversation_object(row))
