"""Which requirement judges which schema keyword: the `x-requirement` annotation, read once.

A schema node names the requirement its assertion keywords judge, beside them:
`"x-requirement": "RS-MODEL-TYPE"` (every keyword of the node), or a map by keyword
(`{"type": "RS-TYPE-ENUM", "required": "RS-TYPE-PRESENT"}`). A `required` error about a missing
member belongs to that member's node. A node reached by `$ref` (or under `allOf`/`anyOf`/...,
the same place in the instance) takes its referrer's requirement where it names none itself.
A node with an assertion keyword that no requirement judges fails the contract's load: a
schema error is never attributed by guessing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ANNOTATION = "x-requirement"
#: The JSON Schema keywords that can fail (annotations such as `description` cannot).
ASSERTIONS = frozenset(
    {
        "type", "enum", "const", "pattern", "format", "minLength", "maxLength", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems",
        "contains", "minContains", "maxContains", "minProperties", "maxProperties", "required",
        "dependentRequired", "unevaluatedProperties", "unevaluatedItems", "anyOf", "oneOf", "not",
    }
)  # fmt: skip
#: Subschemas at the same instance location as their parent (they inherit its requirement).
IN_PLACE = ("allOf", "anyOf", "oneOf")
IN_PLACE_ONE = ("not", "if", "then", "else")


class ContractError(ValueError):
    """The spec files contradict themselves (a bug of the spec, found when it is loaded)."""


@dataclass(frozen=True)
class NodeRequirement:
    """The requirement(s) one schema node names: one for all its keywords, or one per keyword."""

    every: str | None = None
    by_keyword: tuple[tuple[str, str], ...] = ()

    def of(self, keyword: str) -> str | None:
        return next((rid for kw, rid in self.by_keyword if kw == keyword), self.every)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset({rid for _, rid in self.by_keyword} | ({self.every} if self.every else set()))


def node_requirement(node: dict[str, Any], inherited: NodeRequirement | None) -> NodeRequirement | None:
    value = node.get(ANNOTATION)
    if value is None:
        return inherited
    if isinstance(value, str):
        return NodeRequirement(every=value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        # keywords the map does not name keep the referrer's requirement
        return NodeRequirement(inherited.every if inherited else None, tuple(sorted(value.items())))
    raise ContractError(f"{ANNOTATION} must be a requirement ID or a map keyword -> ID, not {value!r}")


@dataclass(frozen=True, eq=False)
class EventRequirements:
    """One event schema's requirement for each of its nodes (by identity: the validator reports the
    very node dict that failed, in `ValidationError.schema`)."""

    event: str
    nodes: dict[int, tuple[dict[str, Any], NodeRequirement]]
    #: The dotted instance path of each node (`*` for any array item or extra member).
    at: dict[int, str]

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyed by identity: a copy in another process is keyed again by its own nodes (which a
        # pickle of the whole contract shares with its validators' schemas).
        entries = [(node, req, self.at[key]) for key, (node, req) in self.nodes.items()]
        return (_rebuilt, (self.event, entries))

    def requirement(self, node: Any, keyword: str, member: str | None = None) -> str:
        """The requirement judging `keyword` of `node` (for `required`, the missing `member`'s)."""
        entry = self.nodes.get(id(node))
        if entry is None or entry[0] is not node:
            raise ContractError(f"{self.event}: a schema error at a node this contract never annotated")
        found = _judging(entry[0], entry[1], keyword, member, self._of)
        if found is None:
            raise ContractError(f"{self.event}: no {ANNOTATION} judges {keyword!r} ({member or 'node'})")
        return found

    def _of(self, node: dict[str, Any]) -> NodeRequirement | None:
        entry = self.nodes.get(id(node))
        return entry[1] if entry is not None else None

    def keywords_of(self, requirement: str) -> set[str]:
        """The keywords `requirement` judges by name in this schema (empty: it judges whole nodes)."""
        return {kw for _, req in self.nodes.values() for kw, rid in req.by_keyword if rid == requirement}

    def at_path(self, path: str, keyword: str) -> str:
        """The requirement judging `keyword` at a dotted instance path (for `required`, the path
        of the missing member). For tests and documentation; judging uses the failing node."""
        parts = ["*" if p.isdigit() else p for p in path.split(".")]
        member = parts.pop() if keyword == "required" else None
        where = ".".join(parts)
        for key, (node, _) in self.nodes.items():
            if self.at[key] == where and (keyword in node or (member and member in node.get("required", ()))):
                return self.requirement(node, keyword, member)
        raise ContractError(f"{self.event}: no schema node asserts {keyword!r} at {path}")

    @functools.cached_property
    def ids(self) -> frozenset[str]:
        """Every requirement that judging one event of this type exercises (asked once per server frame)."""
        return frozenset(rid for _, req in self.nodes.values() for rid in req.ids)


def _rebuilt(event: str, entries: list[tuple[dict[str, Any], NodeRequirement, str]]) -> EventRequirements:
    return EventRequirements(event, {id(n): (n, r) for n, r, _ in entries}, {id(n): a for n, _, a in entries})


def _judging(
    node: dict[str, Any],
    own: NodeRequirement,
    keyword: str,
    member: str | None,
    of: Callable[[dict[str, Any]], NodeRequirement | None],
) -> str | None:
    """A missing required member is judged by the member's own node, where the schema has one."""
    if keyword == "required" and member is not None:
        child = node.get("properties", {}).get(member)
        child_req = of(child) if isinstance(child, dict) else None
        if child_req is not None and child_req.of("required") is not None:
            return child_req.of("required")
    return own.of(keyword)


def annotate(
    event: str, root: dict[str, Any], resolve: Callable[[str, str], tuple[str, Any]], base: str
) -> EventRequirements:
    """Walk an event's schema through its `$ref`s; fail where an assertion has no requirement."""
    nodes: dict[int, tuple[dict[str, Any], NodeRequirement]] = {}
    at: dict[int, str] = {}

    def visit(node: Any, inherited: NodeRequirement | None, uri: str, where: str, path: str = "") -> None:
        if not isinstance(node, dict):
            return
        own = node_requirement(node, inherited)
        if own is None:
            own = NodeRequirement()
        seen = nodes.get(id(node))
        if seen is not None:
            if seen[1] != own:
                raise ContractError(f"{event}: {where} is reached with two different requirements")
            return
        nodes[id(node)], at[id(node)] = (node, own), path
        if "$ref" in node:
            target_uri, target = resolve(uri, node["$ref"])
            visit(target, own, target_uri, f"{where} -> {node['$ref']}", path)
        for name, child, inner in subschemas(node, path):
            in_place = name.partition("/")[0] in IN_PLACE + IN_PLACE_ONE
            visit(child, own if in_place else None, uri, f"{where}/{name}", inner)

    visit(root, None, base, event)
    requirements = EventRequirements(event, nodes, at)
    for node, own in nodes.values():
        keywords = ASSERTIONS & set(node) | (
            {"additionalProperties"} if node.get("additionalProperties") is False else set()
        )
        for keyword in sorted(keywords):
            members = node["required"] if keyword == "required" else [None]
            for member in members:
                if _judging(node, own, keyword, member, requirements._of) is None and not _discriminator(
                    event, root, node, keyword, member
                ):
                    what = f"{keyword} {member!r}" if member else keyword
                    raise ContractError(
                        f"{event}: the schema node {_name(node)} asserts {what} but no {ANNOTATION} names "
                        "the requirement it judges"
                    )
    return requirements


def _discriminator(event: str, root: dict[str, Any], node: dict[str, Any], keyword: str, member: str | None) -> bool:
    """What recognised the event before its schema sees it, so it cannot fail there: the root's
    `type: object` (the frame check, WIRE-JSON-OBJECT) and its `type` member (the event's name)."""
    type_node = root.get("properties", {}).get("type")
    if node is root:
        return keyword == "type" or (keyword == "required" and member == "type")
    # the SDK's types say `type: string` beside the `const` (the generated schemas keep both)
    return node is type_node and keyword in ("const", "type") and node.get("const") == event


def subschemas(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each subschema of `node`: where it sits (`properties/x`, `items`, `anyOf`...), itself, and the
    dotted instance path it judges: `path` for those in place, `*` for an array item or extra member.
    The one walk over a schema (the contract's annotation check and the SDK schemas' generator)."""
    for key in ("properties", "patternProperties"):
        for name, child in node.get(key, {}).items():
            if isinstance(child, dict):
                yield f"{key}/{name}", child, f"{path}.{name if key == 'properties' else '*'}".lstrip(".")
    for key in ("items", "additionalProperties", "contains", "propertyNames", *IN_PLACE_ONE):
        if isinstance(node.get(key), dict):
            yield key, node[key], path if key in IN_PLACE_ONE else f"{path}.*".lstrip(".")
    for key in ("prefixItems", *IN_PLACE):
        for index, child in enumerate(node.get(key, [])):
            if isinstance(child, dict):
                yield f"{key}/{index}", child, path if key in IN_PLACE else f"{path}.*".lstrip(".")


def _name(node: dict[str, Any]) -> str:
    return str(node.get("title") or node.get("description") or sorted(node))[:60]
