"""Attribute filters of vector store search: comparison and compound filters on a file's attributes."""

from __future__ import annotations

import operator

from airlock.store.records import Attributes, AttributeValue, Filter

_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def matches(flt: Filter, attributes: Attributes | None) -> bool:
    kind = flt["type"]
    if kind == "and":
        return all(matches(f, attributes) for f in flt["filters"])
    if kind == "or":
        return any(matches(f, attributes) for f in flt["filters"])
    attrs = attributes or {}
    present = flt["key"] in attrs
    value, want = attrs.get(flt["key"]), flt["value"]
    # A file without the attribute fails every test except the negative ones.
    if kind == "eq":
        return present and _same(value, want)
    if kind == "ne":
        return not (present and _same(value, want))
    if kind == "in":
        return present and any(_same(value, w) for w in _listed(want))
    if kind == "nin":
        return not (present and any(_same(value, w) for w in _listed(want)))
    if not present or isinstance(value, bool) or isinstance(want, bool):
        return False
    if isinstance(value, (int, float)) and isinstance(want, (int, float)) or (
            isinstance(value, str) and isinstance(want, str)):
        return bool(_ORDER[kind](value, want))
    return False


def _same(a: AttributeValue | None, b: AttributeValue | list[AttributeValue]) -> bool:
    # True == 1 in Python; an attribute of true must not equal the number 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _listed(want: AttributeValue | list[AttributeValue]) -> list[AttributeValue]:
    return want if isinstance(want, list) else [want]
