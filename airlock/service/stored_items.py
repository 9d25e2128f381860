"""What an `item_reference` names, for a response's input and for items added to a
conversation alike: an item by id among the items already in front of the request, or any
stored response's or conversation's item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Connection, select

from airlock.errors import Missing
from airlock.store import crud
from airlock.store.records import ItemJson
from airlock.store.tables import ConversationItem, ResponseItem


def referenced(conn: Connection, item_id: str, param: str, *,
               earlier: Sequence[ItemJson] = (), conversation_id: str | None = None
               ) -> ItemJson:
    """The item `item_id` names: the latest of `earlier` (the chain or conversation before the
    request) with that id, else the conversation's own, else the first stored copy of it (the
    same id may be stored more than once, an output sent back as input: the first is where it
    was made). 404 naming `param` when there is none."""
    for item in reversed(earlier):
        if item.get("id") == item_id:
            return item
    if conversation_id is not None:
        c = crud.table_of(ConversationItem)
        own = conn.execute(select(c.c.item).where(c.c.conversation_id == conversation_id,
                                                  c.c.id == item_id)).scalar()
        if own is not None:
            return cast(ItemJson, dict(own))
    for model in (ResponseItem, ConversationItem):
        t = crud.table_of(model)
        found = conn.execute(select(t.c.item).where(t.c.id == item_id)
                             .order_by(t.c.seq.asc()).limit(1)).scalar()
        if found is not None:
            return cast(ItemJson, dict(found))
    raise Missing(f"Item with id '{item_id}' not found.", param=param)
