"""GBNF grammars for JSON replies, bounded so that the JSON can close within a token budget.

llama-cpp-python's schema converter is the base; what it lacks (control characters inside
strings, escaping in enums and keys, integer ranges, length limits) is added here.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

from llama_cpp import llama_grammar

# JSON string characters: no raw control characters (json.loads rejects them).
_CHAR_RULE = r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
STRING_CAPS = (256, 128, 64, 32, 16, 8)
MAX_ARRAY_ITEMS = 64
# Extra members an object with additionalProperties may hold.
MAX_EXTRA_MEMBERS = 12
FREE_KEY_CHARS = 32
FREE_MAX_DEPTH = 4


def quantize_budget(max_tokens: int) -> int:
    """Budgets are rounded down to a power of two, so grammars cache per few sizes."""
    return 1 << max(4, min(16, int(math.log2(max(max_tokens, 16)))))


def _pick_cap(avail: float, n: int) -> int:
    for cap in STRING_CAPS:
        if cap * max(n, 1) <= avail:
            return cap
    return STRING_CAPS[-1]


def free_json_rules(budget: int, prefix: str = "free") -> dict[str, str]:
    """GBNF rules for free-form JSON (llama.cpp's `JSON_GBNF`: objects, arrays, strings,
    numbers, literals, its whitespace), bounded by a token budget: each nesting level splits its
    budget among at most `m` members, strings get about two characters per token of their
    share, and a level too small to hold containers holds scalars only. Entry points:
    `<prefix>-obj-0`, `<prefix>-arr-0`, `<prefix>-val-0`."""
    p = prefix
    rules = {
        f"{p}-char": _CHAR_RULE,
        f"{p}-ws": '| " " | "\\n" [ \\t]{0,20}',
        f"{p}-key": f'"\\"" {p}-char{{0,{FREE_KEY_CHARS}}} "\\"" {p}-ws',
        f"{p}-num": f'"-"? ([0-9] | [1-9] [0-9]{{0,15}}) ("." [0-9]{{1,15}})? '
                    f'([eE] [-+]? [0-9]{{1,3}})? {p}-ws',
        f"{p}-lit": f'("true" | "false" | "null") {p}-ws',
    }
    b, d = max(budget, 8), 0
    while True:
        m = max(2, min(12, b // 64 + 1))
        child = (b - 2) // m - (FREE_KEY_CHARS // 4 + 3)
        nested = child >= 24 and d + 1 < FREE_MAX_DEPTH
        scap = max(8, min(256, 2 * child))
        alts = [f"{p}-str-{d}", f"{p}-num", f"{p}-lit"]
        if nested:
            alts += [f"{p}-obj-{d + 1}", f"{p}-arr-{d + 1}"]
        rules[f"{p}-str-{d}"] = f'"\\"" {p}-char{{0,{scap}}} "\\"" {p}-ws'
        rules[f"{p}-val-{d}"] = " | ".join(alts)
        rules[f"{p}-obj-{d}"] = (
            f'"{{" {p}-ws ( {p}-key ":" {p}-ws {p}-val-{d} '
            f'("," {p}-ws {p}-key ":" {p}-ws {p}-val-{d}){{0,{m - 1}}} )? "}}" {p}-ws'
        )
        rules[f"{p}-arr-{d}"] = (
            f'"[" {p}-ws ( {p}-val-{d} ("," {p}-ws {p}-val-{d}){{0,{m - 1}}} )? "]" {p}-ws'
        )
        if not nested:
            return rules
        b, d = child, d + 1


def json_object_gbnf(max_tokens: int) -> str:
    """`response_format: json_object`: any JSON object, bounded by the token budget."""
    rules = {"root": "free-obj-0", **free_json_rules(max_tokens - 2)}
    return "\n".join(f"{name} ::= {rule}" for name, rule in rules.items())


# Keywords that only describe a value: a schema holding nothing else accepts any JSON value.
_ANNOTATIONS = frozenset({"description", "title", "examples", "$comment", "deprecated",
                          "readOnly", "writeOnly"})


def all_declared(schema: Any) -> Any:
    """`schema` with every property it declares required, in every object it describes (nested
    objects, array items, `anyOf`/`oneOf`/`allOf` branches, `$defs`): the arguments a real
    model sends for a function call. OpenAI's models nearly always write the optional ones and
    strict mode requires them, and a function may read them unguarded (the cookbook's quiz
    function raises KeyError without `question_type`); small models leave them out.

    Left optional: a property with a `default` (the function says what it uses without it) and
    one whose schema constrains nothing (`{}`, `true`, or annotations only: any JSON value,
    which would take the budget of a free-form value for nothing the function asked for).
    Objects' additionalProperties are not touched. Only tool-call arguments go through this;
    `response_format` schemas are constrained as they are written."""
    if isinstance(schema, list):
        return [all_declared(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas") \
                and isinstance(value, dict):
            out[key] = {k: all_declared(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "if", "then", "else", "contains",
                     "prefixItems", "anyOf", "oneOf", "allOf"):
            out[key] = all_declared(value)
        else:
            out[key] = value
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        required = schema.get("required")
        named = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        out["required"] = list(dict.fromkeys(
            [p for p, sub in props.items() if p in named or _writes(sub)] + named))
    return out


def _writes(sub: Any) -> bool:
    """Whether `all_declared` requires a property of schema `sub`."""
    if sub is True or not isinstance(sub, dict):
        return False
    return "default" not in sub and bool(set(sub) - _ANNOTATIONS)


def json_schema_gbnf(schema: dict[str, Any], max_tokens: int) -> str:
    """GBNF for `schema`, tightened so generation terminates within the budget: strings get a
    `maxLength`, arrays a `maxItems`, free-form values a bounded grammar, all sized from the
    token budget (tightening keeps every output valid against the original schema)."""
    if not isinstance(schema, dict):
        raise ValueError("json_schema must be a JSON object")
    bounded = copy.deepcopy(schema)
    fixed, n_open, arrays = _estimate(bounded, bounded, ())
    avail = max(max_tokens - fixed - 4, 0)
    share = avail / 2 if arrays else avail
    cap = _pick_cap(share, n_open)
    _bound_strings(bounded, cap)
    if arrays:
        left = max(avail - n_open * cap, 0)
        for node, item_fixed, item_open in arrays:
            per_item = item_fixed + item_open * cap + 1
            lo = int(node.get("minItems", 0))
            fit = int(left // (len(arrays) * per_item))
            node["maxItems"] = max(lo, 1, min(MAX_ARRAY_ITEMS, fit, node.get("maxItems", fit)))
    converter = _SchemaConverter(string_cap=cap, free_budget=max(16, int(share // max(n_open, 1))))
    try:
        resolved = converter.resolve_refs(bounded, "input")
        converter.visit(resolved, "")
    except (AssertionError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"Unsupported JSON schema: {exc}") from None
    return converter.format_grammar()


def _children(node: dict[str, Any]):
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        sub = node.get(key)
        if isinstance(sub, dict):
            yield from (v for v in sub.values() if isinstance(v, dict))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        sub = node.get(key)
        if isinstance(sub, list):
            yield from (v for v in sub if isinstance(v, dict))
    for key in ("items", "additionalProperties", "not"):
        sub = node.get(key)
        if isinstance(sub, dict):
            yield sub
        elif key == "items" and isinstance(sub, list):
            yield from (v for v in sub if isinstance(v, dict))


def _open_string(node: dict[str, Any]) -> bool:
    return (
        node.get("type") == "string"
        and "maxLength" not in node
        and not any(k in node for k in ("pattern", "enum", "const", "format"))
    )


def _bound_strings(node: dict[str, Any], cap: int) -> None:
    if _open_string(node):
        node["maxLength"] = max(cap, int(node.get("minLength", 0)))
    for child in _children(node):
        _bound_strings(child, cap)


def _resolve_local_ref(root: dict[str, Any], ref: str) -> Any:
    target: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    return target


def _estimate(node: dict[str, Any], root: dict[str, Any], seen: tuple[str, ...]):
    """(fixed tokens, open slots, unbounded arrays) of one instance of `node`, arrays taken
    with one item. Open slots are strings without maxLength and free-form values: they share
    what the budget leaves. A rough upper bound, good enough to size the caps."""
    fixed, slots, arrays = 0, 0, []
    t = node.get("type")
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = _resolve_local_ref(root, ref) if ref.startswith("#/") else None
        if isinstance(target, dict) and ref not in seen and len(seen) < 8:
            return _estimate(target, root, seen + (ref,))
        return 8, 1, []
    if "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        fixed += max((len(json.dumps(v)) for v in values), default=1) // 2 + 2
    elif _open_string(node):
        slots += 1
        fixed += 2
    elif t == "string":
        fixed += int(node.get("maxLength", 32)) + 2
    elif t in ("integer", "number"):
        fixed += 18 if t == "integer" else 36
    elif t in ("boolean", "null"):
        fixed += 1
    elif "properties" in node or isinstance(node.get("additionalProperties"), dict):
        fixed += 2
        extra = node.get("additionalProperties")
        if extra is True or isinstance(extra, dict):
            slots += 1  # extra members share a slot
        node = dict(node, properties=node.get("properties") or {})
        for name, sub in node["properties"].items():
            if isinstance(sub, dict):
                f, s, a = _estimate(sub, root, seen)
                fixed += len(name) // 2 + 4 + f
                slots += s
                arrays += a
    elif t == "array" or "items" in node or "prefixItems" in node:
        fixed += 2
        items = node.get("items")
        if isinstance(items, dict):
            f, s, a = _estimate(items, root, seen)
            fixed += f * max(1, int(node.get("minItems", 1)))
            slots += s
            arrays += a
            # A schema's own maxItems may be far more than a budget (or llama.cpp) can hold.
            if int(node.get("maxItems", MAX_ARRAY_ITEMS + 1)) > MAX_ARRAY_ITEMS:
                arrays.append((node, f, s))
        prefix_items = node.get("prefixItems")
        for sub in prefix_items if isinstance(prefix_items, list) else []:
            if isinstance(sub, dict):
                f, s, a = _estimate(sub, root, seen)
                fixed, slots, arrays = fixed + f + 1, slots + s, arrays + a
    elif not any(k in node for k in ("anyOf", "oneOf", "allOf")):
        fixed += 4  # a free-form value
        slots += 1
    for key in ("anyOf", "oneOf", "allOf"):
        alts = node.get(key)
        if isinstance(alts, list) and alts:
            parts = [_estimate(a, root, seen) for a in alts if isinstance(a, dict)]
            if parts:
                combine = sum if key == "allOf" else max
                fixed += combine(p[0] for p in parts)
                slots += combine(p[1] for p in parts)
                for p in parts:
                    arrays += p[2]
    return fixed, slots, arrays


def _int_range_alternatives(lo: int, hi: int | None) -> list[str]:
    """GBNF alternatives matching exactly the decimal integers lo..hi (0 <= lo <= hi; hi None:
    unbounded, up to 16 digits), without leading zeros. The range is split where the digit
    count changes and at round numbers, so that in each piece every digit position varies
    independently (e.g. 5..123 becomes [5-9] | [1-9] [0-9] | "1" [0-1] [0-9] | "12" [0-3])."""
    if hi is None:
        digits = len(str(lo))
        if digits >= 16:
            return _int_range_alternatives(lo, _INT_LIMIT)
        head = _int_range_alternatives(lo, 10**digits - 1)
        return head + [f"[1-9] [0-9]{{{digits},15}}"]
    out: list[str] = []
    for a, b in _split_range(lo, hi):
        parts: list[str] = []
        literal, any_digits = "", 0
        for da, db in zip(str(a), str(b), strict=False):
            if da == db:
                if any_digits:
                    parts.append("[0-9]" if any_digits == 1 else f"[0-9]{{{any_digits}}}")
                    any_digits = 0
                literal += da
                continue
            if literal:
                parts.append(f'"{literal}"')
                literal = ""
            if (da, db) == ("0", "9"):
                any_digits += 1
                continue
            if any_digits:
                parts.append("[0-9]" if any_digits == 1 else f"[0-9]{{{any_digits}}}")
                any_digits = 0
            parts.append(f"[{da}-{db}]")
        if literal:
            parts.append(f'"{literal}"')
        if any_digits:
            parts.append("[0-9]" if any_digits == 1 else f"[0-9]{{{any_digits}}}")
        out.append(" ".join(parts))
    return out


def _split_range(lo: int, hi: int) -> list[tuple[int, int]]:
    def nines(n: int, k: int) -> int:  # n with its last k digits set to 9
        s = str(n)
        return int(s[: max(len(s) - k, 0)] + "9" * k)

    stops = {hi}
    k = 1
    while lo <= (stop := nines(lo, k)) < hi:
        stops.add(stop)
        k += 1
    k = 1
    while lo < (stop := (hi + 1) - (hi + 1) % 10**k - 1) <= hi:
        stops.add(stop)
        k += 1
    ranges, start = [], lo
    for stop in sorted(stops):
        ranges.append((start, stop))
        start = stop + 1
    return ranges


_INT_LIMIT = 10**16 - 1  # the converter's integers have at most 16 digits


def integer_range_gbnf(lo: int | None, hi: int | None) -> str:
    """A GBNF expression for the JSON integers in [lo, hi] (None: unbounded on that side)."""
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"empty integer range [{lo}, {hi}]")
    alts: list[str] = []
    if lo is None or lo < 0:  # negatives: "-" then |x| in max(1, -hi)..-lo
        low = 1 if hi is None or hi >= 0 else -hi
        alts += [f'"-" {a}' for a in _int_range_alternatives(low, None if lo is None else -lo)]
    if hi is None or hi >= 0:
        alts += _int_range_alternatives(0 if lo is None else max(0, lo), hi)
    return "(" + " | ".join(f"({a})" for a in alts) + ")"


_GBNF_LITERAL_ESCAPE = re.compile(r'[\r\n"\\]')
_GBNF_ESCAPES = {"\r": "\\r", "\n": "\\n", '"': '\\"', "\\": "\\\\"}


class _SchemaConverter(llama_grammar.SchemaConverter):
    """The vendored llama.cpp converter, with: JSON-valid string characters, bounded free-form
    strings/objects/arrays, and integer minimum/maximum (which it otherwise ignores)."""

    def __init__(self, string_cap: int, free_budget: int):
        super().__init__(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        self._cap = string_cap
        self._free_budget = free_budget
        self._free_prefix: str | None = None

    def _free(self, kind: str) -> str:
        """The bounded free-form JSON rules, added once; returns the `kind` entry rule name."""
        if self._free_prefix is None:
            i, prefix = 0, "jsonfree"
            while any(name.startswith(prefix + "-") for name in self._rules):
                i, prefix = i + 1, f"jsonfree{i + 1}"
            self._rules.update(free_json_rules(self._free_budget, prefix))
            self._free_prefix = prefix
        return f"{self._free_prefix}-{kind}-0"

    def _add_primitive(self, name: str, rule):
        B = llama_grammar.BuiltinRule
        if name in ("object", "array", "value"):  # free-form: bounded by the budget
            return self._add_rule(name, self._free({"object": "obj", "array": "arr"}.get(name, "val")))
        if name == "char":
            rule = B(_CHAR_RULE, [])
        elif name == "string":
            rule = B(rf'"\"" char{{0,{self._cap}}} "\"" space', ["char"])
        return super()._add_primitive(name, rule)

    def _format_literal(self, literal: str) -> str:
        # The vendored version leaves backslashes unescaped, so a JSON escape inside a literal
        # (json.dumps gives \" and \u00e9) was read as a GBNF escape.
        return '"' + _GBNF_LITERAL_ESCAPE.sub(lambda m: _GBNF_ESCAPES[m.group(0)], literal) + '"'

    def _generate_constant_rule(self, value: Any) -> str:
        # Raw UTF-8 rather than \u escapes: shorter, and streamed as the characters themselves.
        return self._format_literal(json.dumps(value, ensure_ascii=False))

    def _build_object_rule(self, properties: list[tuple[str, Any]], required: set[str],
                           name: str, additional_properties: Any) -> str:
        """An object's members: the required properties in order, then each optional one at
        most once, in order, then up to MAX_EXTRA_MEMBERS extra members when
        additionalProperties allows them. Replaces the vendored version, which dropped the
        comma before extra members after an optional property and let an extra member take a
        declared property's name with the extra members' value type."""
        prefix = f"{name}-" if name else ""
        kv: dict[str, str] = {}
        for prop, sub in properties:
            value = self.visit(sub, f"{prefix}{prop}")
            kv[prop] = self._add_rule(
                f"{prefix}{prop}-kv",
                f'{self._format_literal(json.dumps(prop))} space ":" space {value}')
        required_kvs = [kv[p] for p, _ in properties if p in required]
        optional_kvs = [kv[p] for p, _ in properties if p not in required]
        extra = None
        if additional_properties is True or isinstance(additional_properties, dict):
            value = self.visit({} if additional_properties is True else additional_properties,
                               f"{prefix}additional-value")
            key = self._key_other_than([p for p, _ in properties], f"{prefix}additional-key")
            extra_kv = self._add_rule(f"{prefix}additional-kv", f'{key} ":" space {value}')
            extra = self._add_rule(
                f"{prefix}additional-kvs",
                f'{extra_kv} ( "," space {extra_kv} ){{0,{MAX_EXTRA_MEMBERS - 1}}}')
        # tails[i]: the optional members from i on, each after a comma, then the extras.
        tails = [f'( "," space {extra} )?' if extra else ""]
        for i in range(len(optional_kvs) - 1, -1, -1):
            tail = f'( "," space {optional_kvs[i]} )? {tails[0]}'.strip()
            tails.insert(0, self._add_rule(f"{prefix}tail-{i}", tail) if tails[0] else tail)
        if required_kvs:
            members = ' "," space '.join(required_kvs) + f" {tails[0]}"
        else:
            firsts = [f"{kv_} {tails[i + 1]}".strip() for i, kv_ in enumerate(optional_kvs)]
            if extra:
                firsts.append(extra)
            members = f"( {' | '.join(firsts)} )?" if firsts else ""
        return f'"{{" space {members} "}}" space'.replace("  ", " ")

    def _key_other_than(self, names: list[str], rule_name: str) -> str:
        """A JSON string rule for object keys that are none of `names`: a trie of the names,
        where leaving it early, or going past one of its ends, gives another key."""
        char = self._add_primitive("char", llama_grammar.PRIMITIVE_RULES["char"])
        if not names:
            return self._add_primitive("string", llama_grammar.PRIMITIVE_RULES["string"])
        trie: dict[str, Any] = {}
        for key in names:
            node = trie
            for c in json.dumps(key, ensure_ascii=False)[1:-1]:
                node = node.setdefault(c, {})
            node[""] = {}  # the end of a name

        def other(node: dict[str, Any]) -> str:
            """Continuations from `node` that do not spell a name."""
            alts = []
            for c in sorted(k for k in node if k):
                child = node[c]
                # Where a name ends, at least one more character must follow; elsewhere,
                # stopping gives another key.
                optional = "" if "" in child else "?"
                alts.append(f"{self._format_literal(c)} ( {other(child)} ){optional}")
            listed = "".join(_class_escape(c) for c in node if c)
            alts.append(rf'([^"\\\x7F\x00-\x1F{listed}] | "\\" (["\\/bfnrt] | "u" '
                        rf"[0-9a-fA-F]{{4}})) {char}*")
            return " | ".join(alts)

        return self._add_rule(rule_name, rf'"\"" ( {other(trie)} ) "\"" space')

    def visit(self, schema, name):
        if (
            isinstance(schema, dict)
            and schema.get("type") == "string"
            and ("minLength" in schema or "maxLength" in schema)
            and not any(k in schema for k in ("pattern", "format", "enum", "const", "$ref"))
        ):
            lo = int(schema.get("minLength", 0))
            hi = schema.get("maxLength")
            if hi is not None and lo > int(hi):
                # llama.cpp's parser would allocate without bound on `char{5,3}`.
                raise ValueError(f"minLength {lo} exceeds maxLength {hi}")
            reps = f"{{{lo},{int(hi)}}}" if hi is not None else f"{{{lo},}}"
            char = self._add_primitive("char", llama_grammar.PRIMITIVE_RULES["char"])
            rule_name = name + "-" if name in llama_grammar.RESERVED_NAMES else name or "root"
            return self._add_rule(rule_name, f'"\\"" {char}{reps} "\\"" space')
        if isinstance(schema, dict) and schema.get("type") == "integer" and any(
            k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
        ):
            lo, hi = _integer_bounds(schema)
            rule_name = name + "-" if name in llama_grammar.RESERVED_NAMES else name or "root"
            return self._add_rule(rule_name, integer_range_gbnf(lo, hi) + " space")
        return super().visit(schema, name)


def _class_escape(c: str) -> str:
    """`c` inside a GBNF character class."""
    return "\\" + c if c in "\\]^-[" else c


def _integer_bounds(schema: dict[str, Any]) -> tuple[int | None, int | None]:
    """Inclusive integer bounds from minimum/maximum/exclusive* (draft 4 booleans or numbers)."""
    def num(key: str) -> float | None:
        v = schema.get(key)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    lo: int | None = None
    hi: int | None = None
    if (v := num("minimum")) is not None:
        lo = math.floor(v) + 1 if schema.get("exclusiveMinimum") is True and v == int(v) \
            else math.ceil(v)
    if (v := num("exclusiveMinimum")) is not None:
        above = math.floor(v) + 1
        lo = above if lo is None else max(lo, above)
    if (v := num("maximum")) is not None:
        hi = math.ceil(v) - 1 if schema.get("exclusiveMaximum") is True and v == int(v) \
            else math.floor(v)
    if (v := num("exclusiveMaximum")) is not None:
        below = math.ceil(v) - 1
        hi = below if hi is None else min(hi, below)
    return lo, hi
