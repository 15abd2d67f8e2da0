"""What differs between two dialects' contracts: field by field, value by value, rule by rule.

Pure (no I/O): two loaded contracts in, a list of differences out, in the spirit of `asyncapi diff`
and Specmatic's backward-compatibility check, over the exchange rules too. A difference is
*breaking* when a server conformant under one dialect can fail under the other: a field added,
removed or retyped, its enum or requiredness changed, a known-valid value changed, a requirement
that exists in one dialect only, a dialect rule (model IDs, the answer to a missing type) changed.
Only an optional field that one side adds without typing and a requirement's citation are not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from conformance.contract import Contract

Kind = Literal[
    "field added",
    "field removed",
    "type changed",
    "enum changed",
    "rule changed",
    "required changed",
    "known values changed",
    "requirement added",
    "requirement removed",
    "requirement changed",
    "source changed",
    "dialect rule changed",
]
#: Differences that cannot change a verdict.
NOT_BREAKING: frozenset[str] = frozenset({"source changed"})
#: Keywords that judge a value besides its type and enum (a changed one is a "rule changed").
RULES = ("pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems")
#: How deep into nested objects the field comparison goes (the SDK's tool schemas nest deeply).
MAX_DEPTH = 6
JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", type(None): "null"}
#: The dialect descriptions' rules worth comparing (dialect.json).
DIALECT_RULES = ("model", "model_names", "model_id", "transcription_intent", "missing_type_error", "server_managed")


@dataclass(frozen=True)
class Difference:
    kind: Kind
    where: str  # event and dotted field, requirement ID, or dialect rule
    a: str  # what the first dialect says ("" where it says nothing)
    b: str

    @property
    def breaking(self) -> bool:
        if self.kind in NOT_BREAKING:
            return False
        return not (self.kind in ("field added", "field removed") and self._untyped_optional)

    @property
    def _untyped_optional(self) -> bool:
        side = self.b if self.kind == "field added" else self.a
        return side == "optional, any type"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "a": self.a, "b": self.b, "breaking": self.breaking}


@dataclass
class Shape:
    """What one dialect says of one field: its JSON types, enum, other rules and whether it is required."""

    types: set[str]
    enum: list[Any] | None
    rules: dict[str, Any]
    required: bool = False

    def describe(self) -> str:
        kinds = "|".join(sorted(self.types)) or "any type"
        enum = f" one of {_short(self.enum)}" if self.enum is not None else ""
        rules = "".join(f" {k}={_short(v)}" for k, v in sorted(self.rules.items()))
        return f"{'required' if self.required else 'optional'}, {kinds}{enum}{rules}"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _resolve(contract: Contract, node: dict[str, Any], document: str) -> tuple[dict[str, Any], str]:
    """Follow a `$ref` (another schema file, or a pointer inside one) within the contract's schemas."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, document
    name, _, pointer = ref.partition("#")
    document = name or document
    target: Any = contract.schemas[document]
    for part in filter(None, pointer.split("/")):
        target = target[part]
    return _resolve(contract, target, document)


def fields(contract: Contract, event: str) -> dict[str, Shape]:
    """Every field of an event's schema, by dotted path (`[]` for array items), as one flat table."""
    out: dict[str, Shape] = {}

    def shape(path: str) -> Shape:
        return out.setdefault(path, Shape(set(), None, {}))

    def visit(node: Any, document: str, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > MAX_DEPTH:
            return
        node, document = _resolve(contract, node, document)
        here = shape(path) if path else None
        if here is not None:
            kinds = node.get("type")
            values = [node["const"]] if "const" in node else node.get("enum")
            if kinds is None and values is not None:  # `const: "error"` says string as `type` would
                kinds = sorted({JSON_TYPES.get(type(v), "object") for v in values})
            here.types.update([kinds] if isinstance(kinds, str) else kinds or [])
            if values is not None:
                here.enum = (here.enum or []) + [v for v in values if v not in (here.enum or [])]
            here.rules.update({k: node[k] for k in RULES if k in node})
        for name, child in node.get("properties", {}).items():
            child_path = f"{path}.{name}".lstrip(".")
            visit(child, document, child_path, depth + 1)
            if name in node.get("required", ()):
                shape(child_path).required = True
        if isinstance(node.get("items"), dict):
            visit(node["items"], document, f"{path}[]", depth + 1)
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key, []):
                visit(branch, document, path, depth)
        for key in ("then", "else"):
            visit(node.get(key), document, path, depth)

    visit(contract.schemas[f"{event}.json"], f"{event}.json", "", 0)
    return out


def _field_differences(a: Contract, b: Contract) -> list[Difference]:
    out: list[Difference] = []
    events = sorted(set(_events(a)) | set(_events(b)))
    for event in events:
        left = fields(a, event) if event in _events(a) else {}
        right = fields(b, event) if event in _events(b) else {}
        for path in sorted(set(left) | set(right)):
            where = f"{event} {path}"
            x, y = left.get(path), right.get(path)
            if x is None and y is not None:
                out.append(Difference("field added", where, "", y.describe()))
            elif y is None and x is not None:
                out.append(Difference("field removed", where, x.describe(), ""))
            elif x is not None and y is not None:
                out += _shape_differences(where, x, y)
    return out


def _shape_differences(where: str, x: Shape, y: Shape) -> list[Difference]:
    out: list[Difference] = []
    if x.types != y.types:
        out.append(Difference("type changed", where, "|".join(sorted(x.types)), "|".join(sorted(y.types))))
    if _canonical(x.enum) != _canonical(y.enum):
        out.append(Difference("enum changed", where, _short(x.enum), _short(y.enum)))
    if x.rules != y.rules:
        out.append(Difference("rule changed", where, _short(x.rules), _short(y.rules)))
    if x.required != y.required:
        says = {True: "required", False: "optional"}
        out.append(Difference("required changed", where, says[x.required], says[y.required]))
    return out


def _canonical(values: list[Any] | None) -> list[str] | None:
    return None if values is None else sorted(json.dumps(v, sort_keys=True) for v in values)


def _events(contract: Contract) -> tuple[str, ...]:
    return tuple(contract.validators)


def _known_differences(a: Contract, b: Contract) -> list[Difference]:
    """The values known to be valid in an update (known-values.json), field by field and per session type."""
    left, right = a.schemas["known-values.json"], b.schemas["known-values.json"]
    out: list[Difference] = []
    scopes = [("", left.get("properties", {}), right.get("properties", {}))]
    for kind in sorted(set(left.get("$defs", {})) & set(right.get("$defs", {}))):
        scopes.append(
            (
                f" on a {kind} session",
                left["$defs"][kind].get("properties", {}),
                right["$defs"][kind].get("properties", {}),
            )
        )
    for scope, x, y in scopes:
        for name in sorted(set(x) | set(y)):
            if name in x and name in y:
                for path, old, new in _leaf_changes(x[name], y[name], name):
                    out.append(Difference("known values changed", f"session.update session.{path}{scope}", old, new))
            elif name in x or name in y:
                shown = ("none known" if name not in side else _short(side[name], 80) for side in (x, y))
                out.append(Difference("known values changed", f"session.update session.{name}{scope}", *shown))
    return out


def _leaf_changes(x: Any, y: Any, path: str) -> list[tuple[str, str, str]]:
    """Where two values differ, as deep as both are objects (`const` and `enum` are the values themselves)."""
    if _canonical([x]) == _canonical([y]):
        return []
    if isinstance(x, dict) and isinstance(y, dict):
        changes: list[tuple[str, str, str]] = []
        for key in sorted(set(x) | set(y)):
            inner = path if key in ("const", "enum") else f"{path}.{key}"
            if key in x and key in y:
                changes += _leaf_changes(x[key], y[key], inner)
            else:
                changes.append((inner, _short(x[key]) if key in x else "none", _short(y[key]) if key in y else "none"))
        return changes
    return [(path, _short(x, 80), _short(y, 80))]


def _requirement_differences(a: Contract, b: Contract) -> list[Difference]:
    out: list[Difference] = []
    for rid in [*a.ids, *(i for i in b.ids if i not in a.ids)]:
        x = a.requirement(rid) if rid in a.ids else None
        y = b.requirement(rid) if rid in b.ids else None
        if x is None and y is not None:
            out.append(Difference("requirement added", rid, "", f"{y.level}: {y.title}"))
        elif y is None and x is not None:
            out.append(Difference("requirement removed", rid, f"{x.level}: {x.title}", ""))
        elif x is not None and y is not None:
            if (x.level, x.title, x.path) != (y.level, y.title, y.path):
                out.append(Difference("requirement changed", rid, f"{x.level}: {x.title}", f"{y.level}: {y.title}"))
            if x.source != y.source:
                out.append(Difference("source changed", rid, _short(x.source.quote), _short(y.source.quote)))
    return out


def _rule_differences(a: Contract, b: Contract) -> list[Difference]:
    out = []
    for rule in DIALECT_RULES:
        x, y = a.dialect_info.get(rule), b.dialect_info.get(rule)
        if _canonical([x]) != _canonical([y]):
            out.append(Difference("dialect rule changed", rule, _short(x, 80), _short(y, 80)))
    return out


def diff(a: Contract, b: Contract) -> list[Difference]:
    """Every difference from dialect `a` to dialect `b`: fields, known values, requirements, dialect rules."""
    return [
        *_field_differences(a, b),
        *_known_differences(a, b),
        *_requirement_differences(a, b),
        *_rule_differences(a, b),
    ]
