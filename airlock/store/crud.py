"""Generic row access shared by every resource: get, insert, update, delete and cursor pages."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Connection, Row, Table, delete, insert, select, update

from airlock.errors import InvalidRequest, NotFound
from airlock.store.tables import INTERNAL, Base, Rows, Thread

# The values of columns to write: SQLAlchemy checks them against the columns' types.
Values = Mapping[str, object]
R = TypeVar("R", bound=Values)  # a row's TypedDict (store.records)


def now() -> int:
    return int(time.time())


Model = type[Base] | type[Rows[Any]]


def table_of(model: Model) -> Table:
    return cast(Table, model.__table__)


def to_object(model: type[Rows[R]], row: Row[Any]) -> R:
    """A row of `model` as its wire fields: every column except the internal ones. The one
    place a row becomes its records.py TypedDict: the columns are the table's."""
    return cast(R, {k: v for k, v in row._mapping.items() if k not in INTERNAL})


def find(conn: Connection, /, model: Model, object_id: str, **scope: object
         ) -> Row[Any] | None:
    t = table_of(model)
    q = select(t).where(t.c.id == object_id, *(t.c[k] == v for k, v in scope.items()))
    return conn.execute(q).first()


def get(conn: Connection, model: type[Rows[R]], kind: str, object_id: str, /, **scope: object
        ) -> R:
    """The object, or a 404 naming its kind. `scope` pins parents (thread_id=..., run_id=...)."""
    row = find(conn, model, object_id, **scope)
    if row is None:
        raise NotFound(kind, object_id)
    return to_object(model, row)


# Tables whose `status` changes only in their state module (engine/run_state.py,
# engine/ingestion_state.py), by conditional UPDATEs: generic writes may not touch it.
STATE_OWNED = frozenset({"runs", "vector_store_files"})


def _no_status(model: Model, values: Values) -> None:
    if "status" in values and table_of(model).name in STATE_OWNED:
        raise ValueError(f"{table_of(model).name}.status changes only in its state module")


def add(conn: Connection, model: type[Rows[R]], values: R, **internal: object) -> R:
    """Inserts a row: its wire columns, and the internal ones (INTERNAL) as keywords."""
    _no_status(model, values)
    conn.execute(insert(table_of(model)).values(**values, **internal))
    return values


def add_all(conn: Connection, rows: list[tuple[Model, Values]]) -> None:
    """Inserts rows of several tables, in order; on PostgreSQL as one statement (the first
    inserts as data-modifying CTEs), so it needs no transaction of its own (`Store.statement`)."""
    for model, values in rows:
        _no_status(model, values)
    if conn.dialect.name != "postgresql" or len(rows) < 2:
        for model, values in rows:
            conn.execute(insert(table_of(model)).values(**values))
        return
    *first, (model, values) = rows
    statement = insert(table_of(model)).values(**values)
    for i, (earlier, earlier_values) in enumerate(first):
        statement = statement.add_cte(
            insert(table_of(earlier)).values(**earlier_values).cte(f"add_{i}"))
    conn.execute(statement)


def change(conn: Connection, model: Model, object_id: str, values: Values) -> None:
    _no_status(model, values)
    if values:
        t = table_of(model)
        conn.execute(update(t).where(t.c.id == object_id).values(**values))


def remove(conn: Connection, model: Model, object_id: str) -> bool:
    t = table_of(model)
    return conn.execute(delete(t).where(t.c.id == object_id)).rowcount > 0


class Paging(Protocol):
    """A cursor page's parameters (the service layer's PageParams)."""

    @property
    def limit(self) -> int: ...
    @property
    def order(self) -> str: ...
    @property
    def after(self) -> str | None: ...
    @property
    def before(self) -> str | None: ...


def page(
    conn: Connection, model: type[Rows[R]], params: Paging, /, *filters: Any, **scope: object
) -> tuple[list[R], bool]:
    """One cursor page in `params.order`, and whether more objects lie beyond it.

    Cursors are object ids resolved to their `seq`. `before` returns the objects nearest the
    cursor, so paging backwards walks the list without gaps.
    """
    t = table_of(model)
    base = [*filters, *(t.c[k] == v for k, v in scope.items())]
    where = list(base)
    desc = params.order == "desc"
    newest_first = desc
    if params.after is not None:
        seq = _cursor_seq(conn, t, params.after, "after", base)
        where.append(t.c.seq < seq if desc else t.c.seq > seq)
    if params.before is not None:
        seq = _cursor_seq(conn, t, params.before, "before", base)
        where.append(t.c.seq > seq if desc else t.c.seq < seq)
        if params.after is None:
            newest_first = not desc  # walk away from the cursor, then restore the order
    order = t.c.seq.desc() if newest_first else t.c.seq.asc()
    rows = list(conn.execute(select(t).where(*where).order_by(order).limit(params.limit + 1)))
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    if newest_first != desc:
        rows.reverse()
    return [to_object(model, r) for r in rows], has_more


def _cursor_seq(conn: Connection, t: Table, object_id: str, param: str, where: list[Any]) -> int:
    seq = conn.execute(select(t.c.seq).where(t.c.id == object_id, *where)).scalar()
    if seq is None:
        raise InvalidRequest(
            f"Invalid '{param}': no object with id '{object_id}' in this list.", param=param
        )
    return int(seq)


def require(conn: Connection, model: Model, kind: str, object_id: str) -> None:
    """A 404 unless the object exists; reads only its key."""
    t = table_of(model)
    if conn.execute(select(t.c.seq).where(t.c.id == object_id)).first() is None:
        raise NotFound(kind, object_id)


def get_in_thread(
    conn: Connection, model: type[Rows[R]], kind: str, object_id: str, thread_id: str, /
) -> R:
    """An object that lives in a thread: 404 for the thread first, then for the object. Deleting
    a thread deletes its objects in the same transaction, so one found by both ids proves the
    thread exists: one query unless something is missing."""
    row = find(conn, model, object_id, thread_id=thread_id)
    if row is None:
        require(conn, Thread, "thread", thread_id)
        raise NotFound(kind, object_id)
    return to_object(model, row)


def page_in_thread(
    conn: Connection, model: type[Rows[R]], params: Paging, thread_id: str, /, **scope: object
) -> tuple[list[R], bool]:
    require(conn, Thread, "thread", thread_id)
    return page(conn, model, params, thread_id=thread_id, **scope)


def update_in_thread(
    conn: Connection, model: type[Rows[R]], kind: str, object_id: str, thread_id: str,
    fields: Values, /
) -> R:
    """Applies the sent fields (metadata: null clears it) and returns the updated object."""
    get_in_thread(conn, model, kind, object_id, thread_id)
    if "metadata" in fields:
        fields = {**fields, "metadata": fields["metadata"] or {}}
    change(conn, model, object_id, fields)
    return get(conn, model, kind, object_id)


def delete_checked(conn: Connection, /, model: Model, kind: str, object_id: str,
                   **scope: object) -> None:
    if find(conn, model, object_id, **scope) is None:
        raise NotFound(kind, object_id)
    remove(conn, model, object_id)


def delete_in_thread(
    conn: Connection, model: type[Rows[Any]], kind: str, object_id: str, thread_id: str
) -> None:
    get_in_thread(conn, model, kind, object_id, thread_id)
    remove(conn, model, object_id)
