"""Conversations: items kept in order, which responses read and append to.

Items arrive validated in their stored shape (server/wire/response_items.py) and are kept as
given; `seq` fixes their order. An item id appears once per conversation: a second one, in the
same request or already stored, is a 400 naming it. Each request is one transaction, so a bad
item anywhere leaves the conversation as it was.

`items_of`, `check_append` and `append` take the caller's connection: the Responses service
reads a conversation and appends a response's items inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from airlock.errors import InvalidRequest, Missing
from airlock.service.context import Context
from airlock.service.paging import PageParams
from airlock.service.stored_items import referenced
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import ConversationRow, ItemJson, Metadata
from airlock.store.tables import Conversation, ConversationItem

KIND = "conversation"
ID_LENGTH = 64  # the id columns' width

# Names the param of the item at an index: "items[2].id" for the Conversations API, "input"
# for items a response appends.
ParamOf = Callable[[int], str]


def _item_id_param(i: int) -> str:
    return f"items[{i}].id"


# --- for the Responses service: plain functions on its connection -----------------------------


def items_of(conn: Connection, conversation_id: str) -> list[ItemJson]:
    """Every item of the conversation, oldest first; a 404 if there is no such conversation."""
    crud.require(conn, Conversation, KIND, conversation_id)
    t = crud.table_of(ConversationItem)
    rows = conn.execute(select(t.c.item).where(t.c.conversation_id == conversation_id)
                        .order_by(t.c.seq.asc())).scalars()
    return [cast(ItemJson, item) for item in rows]


def append(conn: Connection, conversation_id: str, items: list[ItemJson]) -> None:
    """Appends items after the conversation's last one, in order. A 404 if there is no such
    conversation; an id already in it, or twice in `items`, is a 400 naming "input"."""
    crud.require(conn, Conversation, KIND, conversation_id)
    _add_items(conn, conversation_id, items, lambda _i: "input")


def check_append(conn: Connection, conversation_id: str, items: list[ItemJson]) -> None:
    """The refusals `append` would make, without writing: for a caller that appends only after
    work it should not start when the items cannot go in (a response's turn)."""
    crud.require(conn, Conversation, KIND, conversation_id)
    _refuse_duplicates(conn, conversation_id, items, lambda _i: "input")


# --- the steps of a write ---------------------------------------------------------------------


def _add_items(conn: Connection, conversation_id: str, items: list[ItemJson],
               param_of: ParamOf) -> list[ItemJson]:
    """Resolves references, refuses duplicates, then stores every item: all or none."""
    resolved = [referenced(conn, str(item["id"]), param_of(i), conversation_id=conversation_id)
                if _is_reference(item) else item for i, item in enumerate(items)]
    _refuse_duplicates(conn, conversation_id, resolved, param_of)
    if resolved:
        rows = [{"id": item["id"], "conversation_id": conversation_id, "item": item}
                for item in resolved]
        try:
            # One statement per row, in order: `seq` follows the request's order.
            conn.execute(insert(crud.table_of(ConversationItem)), rows)
        except IntegrityError:
            # Another request stored one of these ids between our check and our insert.
            raise InvalidRequest(
                "Duplicate item found: an item with one of these ids was added to "
                f"conversation '{conversation_id}' at the same time.", param=param_of(0),
            ) from None
    return resolved


def _is_reference(item: ItemJson) -> bool:
    return item.get("type") == "item_reference"


def _refuse_duplicates(conn: Connection, conversation_id: str, items: list[ItemJson],
                       param_of: ParamOf) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        item_id = str(item["id"])
        if len(item_id) > ID_LENGTH:
            raise InvalidRequest(f"Invalid '{param_of(i)}': an item id may be at most "
                                 f"{ID_LENGTH} characters long.", param=param_of(i))
        if item_id in seen:
            raise InvalidRequest(f"Duplicate item found with id '{item_id}': it appears more "
                                 "than once in this request.", param=param_of(i))
        seen.add(item_id)
    if not seen:
        return
    t = crud.table_of(ConversationItem)
    stored = set(conn.execute(select(t.c.id).where(
        t.c.conversation_id == conversation_id, t.c.id.in_(seen))).scalars())
    for i, item in enumerate(items):
        if item["id"] in stored:
            raise InvalidRequest(f"Duplicate item found with id '{item['id']}': it is already "
                                 f"in conversation '{conversation_id}'.", param=param_of(i))


def create_with(conn: Connection, items: list[ItemJson], metadata: Metadata
                ) -> ConversationRow:
    """A new conversation holding `items` (their references resolved, duplicates refused)."""
    conversation = ConversationRow(id=new_id("conversation"), created_at=crud.now(),
                                   metadata=metadata)
    crud.add(conn, Conversation, conversation)
    _add_items(conn, conversation["id"], items, _item_id_param)
    return conversation


def _update(conn: Connection, conversation_id: str, metadata: Metadata) -> ConversationRow:
    crud.require(conn, Conversation, KIND, conversation_id)
    crud.change(conn, Conversation, conversation_id, {"metadata": metadata})
    return crud.get(conn, Conversation, KIND, conversation_id)


def _delete(conn: Connection, conversation_id: str) -> None:
    crud.require(conn, Conversation, KIND, conversation_id)
    # Explicitly, not by ON DELETE CASCADE: a database without foreign-key enforcement must
    # not keep orphans. Responses that used the conversation stay (they name it; it is a 404).
    t = crud.table_of(ConversationItem)
    conn.execute(delete(t).where(t.c.conversation_id == conversation_id))
    crud.remove(conn, Conversation, conversation_id)


def _create_items(conn: Connection, conversation_id: str, items: list[ItemJson]
                  ) -> list[ItemJson]:
    crud.require(conn, Conversation, KIND, conversation_id)
    return _add_items(conn, conversation_id, items, _item_id_param)


def _page(conn: Connection, conversation_id: str, params: PageParams
          ) -> tuple[list[ItemJson], bool]:
    crud.require(conn, Conversation, KIND, conversation_id)
    rows, more = crud.page(conn, ConversationItem, params, conversation_id=conversation_id)
    return [row["item"] for row in rows], more


def _item(conn: Connection, conversation_id: str, item_id: str) -> ItemJson:
    """The item, or a 404: for the conversation first, then for the item."""
    row = crud.find(conn, ConversationItem, item_id, conversation_id=conversation_id)
    if row is None:
        crud.require(conn, Conversation, KIND, conversation_id)
        raise Missing(f"Item with id '{item_id}' not found.", param="item_id")
    return crud.to_object(ConversationItem, row)["item"]


def _delete_item(conn: Connection, conversation_id: str, item_id: str) -> ConversationRow:
    _item(conn, conversation_id, item_id)
    t = crud.table_of(ConversationItem)
    # By both keys: an item id is unique within its conversation only.
    conn.execute(delete(t).where(t.c.conversation_id == conversation_id, t.c.id == item_id))
    return crud.get(conn, Conversation, KIND, conversation_id)


class Conversations:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, items: list[ItemJson], metadata: Metadata) -> ConversationRow:
        return await self.ctx.store.write(create_with, items, metadata)

    async def retrieve(self, conversation_id: str) -> ConversationRow:
        return await self.ctx.store.read(crud.get, Conversation, KIND, conversation_id)

    async def update(self, conversation_id: str, metadata: Metadata) -> ConversationRow:
        """Replaces the metadata as a whole."""
        return await self.ctx.store.write(_update, conversation_id, metadata)

    async def delete(self, conversation_id: str) -> None:
        await self.ctx.store.write(_delete, conversation_id)

    async def create_items(self, conversation_id: str, items: list[ItemJson]
                           ) -> list[ItemJson]:
        """Appends the items in order; returns them as stored (references resolved)."""
        return await self.ctx.store.write(_create_items, conversation_id, items)

    async def page_items(self, conversation_id: str, params: PageParams
                         ) -> tuple[list[ItemJson], bool]:
        return await self.ctx.store.read(_page, conversation_id, params)

    async def retrieve_item(self, conversation_id: str, item_id: str) -> ItemJson:
        return await self.ctx.store.read(_item, conversation_id, item_id)

    async def delete_item(self, conversation_id: str, item_id: str) -> ConversationRow:
        """Removes the item; returns the conversation, as the API does."""
        return await self.ctx.store.write(_delete_item, conversation_id, item_id)
