"""Frame and event checks: the wire rules of one server frame, then its event's schema.

A schema error is reported under the requirement its schema node names beside the failing
keyword (`x-requirement`, read once by the contract), so a field's type lives in the schema only.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

from jsonschema.exceptions import ValidationError

from conformance.checks.connection import Connection, Received
from conformance.checks.findings import Violation, describe_value, json_type
from conformance.checks.registry import HELD, Finding, Flaw, connection_check
from conformance.contract import SCHEMA_BASE, Contract, EventRequirements, Requirement, taken_errors
from conformance.contract.annotations import ANNOTATION, IN_PLACE, subschemas
from conformance.transcript import Frame

#: The wire checks' requirements: every server frame is a text frame, and holds one JSON object.
TEXT_FRAME, JSON_OBJECT = "WIRE-TEXT-FRAME", "WIRE-JSON-OBJECT"


def _message(path: str, keyword: str, value: Any, expected: Any, fallback: str) -> str:
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        shown = json_type(value) if value is None else f"{json_type(value)} {describe_value(value)}"  # not "null null"
        return f"{path} is {shown}; expected {wanted}"
    if keyword == "enum":
        return f"{path} is {describe_value(value)}; expected one of {', '.join(map(str, expected))}"
    if keyword == "const":
        return f"{path} is {describe_value(value)}; expected {describe_value(expected)}"
    if keyword == "minLength":
        return f"{path} is an empty string; expected a non-empty string"
    if keyword == "pattern":
        return f"{path} is {describe_value(value)}; expected a string matching {expected}"
    return f"{path}: {fallback}"


def _finding(
    where: list[Any], keyword: str, value: Any, expected: Any, fallback: str, member: str | None
) -> tuple[str, str]:
    """The dotted path and message of one failing keyword (of one missing `member`, for `required`)."""
    base = ".".join(str(p) for p in where)
    if member is not None:
        path = f"{base}.{member}" if base else member
        return path, f"{path} is missing"
    path = base or "(event)"
    return path, _message(path, keyword, value, expected, fallback)


#: The keywords whose failure is worded from the schema and the value alone (`_message`), and those
#: worded as jsonschema words them, but with the value described (`describe_value`) as other messages do.
WORDED = frozenset({"type", "enum", "const", "minLength", "pattern", "required"})
REWORDED = {"anyOf": "{} is not valid under any of the given schemas"}
#: The longest message of another keyword kept as the validator wrote it (it may quote a whole value).
MESSAGE_CHARS = 300

#: Of the errors of one keyword of one schema node at one place of an event (array items, and members
#: named by digits, are one place: `*`), the first are explained one by one and the rest counted in one
#: violation more. A 64 KB frame holds 30,000 items, and each explained error costs tens of microseconds
#: and a violation kept; the rest name no requirement and no field the first did not.
LISTED_AT_ONE_PLACE = 10
_INDEX = re.compile(r"(?<=/)\d+(?=/|$)")


@dataclass(frozen=True)
class _Errors:
    """A validator's errors of one event, in its order, as both explanations take them: the failing
    keywords (`sites`: a node, its keyword, and jsonschema-rs' evaluation path to it, which orders its
    errors as Python `jsonschema` would), then each error's site and instance location (RFC 6901),
    and, from Python `jsonschema`, its messages."""

    sites: list[tuple[dict[str, Any], str, Sequence[Any] | None]]
    site_of: list[int]
    pointers: list[str]
    messages: list[str] | None = None


def _pointer(where: Iterable[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in where)


def _walked(event: Any, pointer: str) -> tuple[list[Any], Any]:
    """The instance path (array indices as integers) and the value an instance location names."""
    where: list[Any] = []
    value = event
    for part in pointer.split("/")[1:]:
        key: Any = part.replace("~1", "/").replace("~0", "~")
        key = int(key) if isinstance(value, list) else key
        where.append(key)
        value = value[key]
    return where, value


def _explained(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements, frame: Frame | None
) -> list[Violation]:
    """Python `jsonschema`'s errors, each mapped to the requirement its failing node names."""
    originals = contract.originals

    def taken(e: ValidationError) -> tuple[dict[str, Any], str, str, str]:
        node = originals.get(id(e.schema), cast(dict[str, Any], e.schema))
        return node, str(e.validator), _pointer(e.absolute_path), e.message

    errors = taken_errors(contract.explainers[judged_by.event], event, taken)
    table, site_of = _sites((node, keyword) for node, keyword, _, _ in errors)
    found = _Errors(table, site_of, [e[2] for e in errors], [e[3] for e in errors])
    return _listed(event, contract, judged_by, frame, found) or []


def _explained_fast(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements, frame: Frame | None
) -> list[Violation] | None:
    """The same from jsonschema-rs' errors: the failing node (found by its keyword's location in the
    contract's own schema documents), the instance path, the value (taken from the event itself);
    None where jsonschema-rs cannot say what `_explained` says (another keyword, a value it cannot take).

    Its evaluation lists errors at about a microsecond each, as `iter_errors` would, for an event whose
    schema has no `anyOf`, `oneOf`, `not` or `if` (their branches' errors are listed, not the applicator's)
    and reaches each node one way. Other events are left to `_explained`: `iter_errors` lists every error of
    every branch of an `anyOf` too, which for a 30,000-item array under a nullable one took seconds."""
    evaluations = _evaluations(contract, judged_by.event)
    if not evaluations or None in evaluations.values():
        return None
    entries = _errors_in_pieces(event, contract, judged_by)
    if entries is None:
        return None
    locations = [location for location, _ in entries]
    sites: dict[str, int] = {}
    table: list[tuple[dict[str, Any], str, Sequence[Any] | None]] = []
    for location in dict.fromkeys(locations):
        at = _node_at(contract, location)
        evaluation = evaluations.get((id(at[0]), at[1])) if at is not None else None
        if at is None or evaluation is None:
            return None
        sites[location] = len(table)
        table.append((*at, evaluation))
    found = _Errors(table, [sites[location] for location in locations], [pointer for _, pointer in entries])
    return _listed(event, contract, judged_by, frame, found)


#: A long array reached from the event through objects alone is judged in pieces of this many items
#: (`_errors_in_pieces`): jsonschema-rs lists every error of what it is given in one call, holding the GIL
#: (the event loop, which stamps arrivals, waits) and every error at once. A hostile megabyte of bad items
#: was 500,000 errors in one call: 0.6 s, 550 MB.
PIECE_ITEMS = 4096
#: Keywords that judge a value as a whole (replacing a member changes what they say), or that may judge a
#: member beside the one subschema followed (`_judging`): a path through a node holding one is not split.
_WHOLE = frozenset(
    {
        "enum", "const", "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains",
        "prefixItems", "unevaluatedItems", "unevaluatedProperties", "additionalProperties", "patternProperties",
        "dependentSchemas", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$dynamicRef",
    }
)  # fmt: skip
#: A JSON pointer (of a `$ref`) that reads as it is written: `_judging` compiles what it names again.
_PLAIN_POINTER = re.compile(r"(/[A-Za-z0-9_$.-]+)*")
#: What may stand beside a `$ref` that `_judging` follows (it judges nothing).
_ANNOTATIONS = frozenset({"$comment", "description", "title", "examples", "default", "readOnly", "deprecated"})


def _errors_in_pieces(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements
) -> list[tuple[str, str]] | None:
    """jsonschema-rs' errors of an event (absolute keyword location, instance location), in its order at each
    place: each array of more than PIECE_ITEMS items, reached through objects alone and judged by one `items`
    schema, is left out of the event (an empty array: what judges the array itself says the same) and its
    items judged PIECE_ITEMS at a time, their errors after the rest. No other error is at the places of
    its items, so each place's errors keep their order. None where jsonschema-rs cannot take the event."""
    document = contract.registry.event(judged_by.event).schema
    splits: list[tuple[tuple[str, ...], str, str]] = []
    stack: list[tuple[Mapping[str, Any], tuple[str, ...]]] = [(event, ())]
    while stack:
        value, path = stack.pop()
        for name, member in value.items():
            if isinstance(member, dict):
                stack.append((member, (*path, name)))
            elif isinstance(member, list) and len(member) > PIECE_ITEMS:
                items = _judging(contract, document, (*path, name))
                if items is not None:
                    splits.append(((*path, name), *items))
    if not splits:
        return contract.fast[judged_by.event].errors(event)
    reduced: Any = event
    for path, _, _ in splits:
        reduced = _emptied(reduced, path)
    errors = contract.fast[judged_by.event].errors(reduced)
    for path, items_document, items_pointer in splits:
        validator = contract.validator_at(items_document, items_pointer, items=True)
        array: Any = event
        for name in path:
            array = array[name]
        prefix = _pointer(path)
        for start in range(0, len(array), PIECE_ITEMS):
            found = validator.errors(array[start : start + PIECE_ITEMS]) if validator is not None else None
            if errors is None or found is None:
                return None
            for location, where in found:
                index, slash, rest = where[1:].partition("/")
                errors.append((location, f"{prefix}/{start + int(index)}{slash}{rest}"))
    return errors


def _judging(contract: Contract, document: str, path: tuple[str, ...]) -> tuple[str, str] | None:
    """The document and pointer of the one `items` schema that judges the items of the array at `path`
    (members from the event's root), reached through `$ref` and `properties` alone past nodes that judge
    nothing whole (`_WHOLE`); None where there is no such schema, or another could judge them too."""
    node: Any = contract.schemas[document]
    pointer = ""
    for step in (*path, None):
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            if set(node) - _ANNOTATIONS - {"$ref", ANNOTATION}:
                return None
            reference = node["$ref"]
            pointer = reference.partition("#")[2]
            if not _PLAIN_POINTER.fullmatch(pointer):  # `_resolved` reads it as it is: no %-escape, no `~1`
                return None
            document, node = _resolved(contract, document, reference)
        if not isinstance(node, dict) or set(node) & _WHOLE:
            return None
        if step is None:
            items = node.get("items")
            return (document, f"{pointer}/items") if isinstance(items, dict) else None
        node = (node.get("properties") or {}).get(step)
        pointer = f"{pointer}/properties/{step.replace('~', '~0').replace('/', '~1')}"
    return None


def _emptied(value: Any, path: tuple[str, ...]) -> Any:
    """A copy of `value` with the array at `path` (members from the root) empty; the rest shared."""
    if not path:
        return []
    copy = dict(value)
    copy[path[0]] = _emptied(value[path[0]], path[1:])
    return copy


def _sites(
    failing: Iterable[tuple[dict[str, Any], str]],
) -> tuple[list[tuple[dict[str, Any], str, Sequence[Any] | None]], list[int]]:
    """The sites (node, keyword) of Python jsonschema's errors, each once, and each error's."""
    sites: dict[tuple[int, str], int] = {}
    table: list[tuple[dict[str, Any], str, Sequence[Any] | None]] = []
    site_of = []
    for node, keyword in failing:
        if (id(node), keyword) not in sites:
            sites[(id(node), keyword)] = len(table)
            table.append((node, keyword, None))
        site_of.append(sites[(id(node), keyword)])
    return table, site_of


Place = tuple[int, str, str | None]  # a site, an instance location with `*` for each index, a missing member


def _listed(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements, frame: Frame | None, errors: _Errors
) -> list[Violation] | None:
    """The violations of an event's schema errors, in the order Python `jsonschema` lists them: each
    missing member once, the first LISTED_AT_ONE_PLACE of each place, then how many more there.
    None where an error from jsonschema-rs cannot be worded as Python `jsonschema`'s would be.

    The work per error is a few dictionary steps; the rest is done for the errors listed only."""
    indexed: dict[tuple[int, str], int] = {}  # errors by site and location but its last index, where that is one
    exact: dict[tuple[int, str], int] = {}  # the rest, by site and location
    firsts: list[int] = []  # the first LISTED_AT_ONE_PLACE errors of each of those keys, in order
    members: dict[int, list[str | None]] = {}  # of each `required` error (all taken): the members it misses
    missing: set[tuple[int, str]] = set()
    required = {site for site, (_, keyword, _) in enumerate(errors.sites) if keyword == "required"}
    for index, (site, pointer) in enumerate(zip(errors.site_of, errors.pointers, strict=True)):
        if site in required:
            if (site, pointer) not in missing:  # one error per missing member: the first names them all
                missing.add((site, pointer))
                value, names = _walked(event, pointer)[1], errors.sites[site][0]["required"]
                members[index] = [m for m in names if m not in value] if isinstance(value, dict) else [None]
                firsts.append(index)
            continue
        head, _, last = pointer.rpartition("/")
        counts, key = (indexed, (site, head)) if last.isdecimal() else (exact, (site, pointer))  # isdecimal: \\d
        seen = counts.get(key, 0)
        counts[key] = seen + 1
        if seen < LISTED_AT_ONE_PLACE:
            firsts.append(index)
    total: Counter[Place] = Counter()
    for (site, head), count in indexed.items():
        total[(site, _INDEX.sub("*", head) + "/*", None)] += count
    for (site, pointer), count in exact.items():
        total[(site, _INDEX.sub("*", pointer), None)] += count
    listed: dict[Place, list[tuple[int, str | None]]] = {}
    for index in firsts:  # each place's first errors are among the first of its keys
        pattern = _INDEX.sub("*", errors.pointers[index])
        for member in members.get(index, [None]):
            place = (errors.site_of[index], pattern, member)
            total[place] += index in members  # `required`: counted here, by member
            first = listed.setdefault(place, [])
            if len(first) < LISTED_AT_ONE_PLACE:
                first.append((index, member))
    more = {place: total[place] - len(first) for place, first in listed.items()}
    ranked: list[tuple[tuple[int, ...], int, int, Place, list[Any], Any, str | None]] = []
    for place, first in listed.items():
        node, keyword, evaluation = errors.sites[place[0]]
        if errors.messages is None and keyword not in WORDED and keyword not in REWORDED:
            return None
        for index, member in first:
            where, value = _walked(event, errors.pointers[index])
            rank = (index,) if evaluation is None else _python_order(contract, judged_by, event, evaluation, where)
            if rank is None:  # (index,): Python jsonschema's own order
                return None
            of_member = node["required"].index(member) if member is not None else 0
            ranked.append((rank, of_member, index, place, where, value, member))
    ranked.sort(key=lambda item: item[:3])  # ties: one keyword's errors, in the validator's order
    violations: list[Violation] = []
    shown: Counter[Place] = Counter()
    for _, _, index, place, where, value, member in ranked:
        node, keyword, _ = errors.sites[place[0]]
        if keyword in REWORDED:  # the value described, not written whole: a hostile one is a MB
            fallback = REWORDED[keyword].format(describe_value(value))
        else:
            fallback = errors.messages[index] if errors.messages is not None else ""
            fallback = fallback if len(fallback) <= MESSAGE_CHARS else fallback[: MESSAGE_CHARS - 1] + "…"
        path, text = _finding(where, keyword, value, node[keyword], fallback, member)
        requirement = judged_by.requirement(node, keyword, member)
        violations.append(Violation(requirement, path, text, frame))
        shown[place] += 1
        if more[place] and shown[place] == len(listed[place]):
            violations.append(Violation(requirement, *_counted(place, path, more[place]), frame))
    return violations or None


def _counted(place: Place, last: str, count: int) -> tuple[str, str]:
    """The path and message of the violations not listed at one place."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in place[1].split("/")[1:]]
    path = ".".join(parts + ([place[2]] if place[2] is not None else [])) or "(event)"
    return path, f"{path}: {count:,} more like {last} (the first {LISTED_AT_ONE_PLACE} at one place are listed)"


def _python_order(
    contract: Contract, judged_by: EventRequirements, event: Any, evaluation: Sequence[Any], where: list[Any]
) -> tuple[int, ...] | None:
    """Where Python `jsonschema` reports an error among an event's: it walks each schema node's
    keywords in the document's order (`then`/`else` where `if` is), `properties` in the schema's
    order, array items and extra members in the instance's; None on a path this does not follow."""
    document = contract.registry.event(judged_by.event).schema
    node: Any = contract.schemas[document]
    value, rest, order = event, list(where), []
    at, last = 0, len(evaluation) - 1
    while at <= last:
        step = evaluation[at]
        if not isinstance(node, dict) or step not in node:
            return None
        order.append(list(node).index("if" if step in ("then", "else") and "if" in node else step))
        if at == last:
            return tuple(order)  # the failing keyword itself
        child, at = node[step], at + 1
        if step == "$ref":
            document, node = _resolved(contract, document, child)
        elif step == "properties":
            name = evaluation[at]
            if not isinstance(child, dict) or name not in child or not rest or rest[0] != name:
                return None
            order.append(list(child).index(name))
            value, node, at = value[rest.pop(0)], child[name], at + 1
        elif step in ("allOf", "anyOf", "oneOf"):
            index = evaluation[at]
            index = int(index) if str(index).isdigit() else -1
            if not isinstance(child, list) or not 0 <= index < len(child):
                return None
            order.append(index)
            node, at = child[index], at + 1
        elif step in ("items", "additionalProperties") and rest:
            member = rest.pop(0)
            order.append(member if isinstance(member, int) else list(value).index(member))
            value, node = value[member], child
        elif step in ("then", "else"):
            node = child
        else:
            return None
    return None


def _resolved(contract: Contract, document: str, ref: str) -> tuple[str, Any]:
    """The document and node a `$ref` names (a file of the contract's schemas, and a pointer in it)."""
    name, _, pointer = ref.partition("#")
    document = name or document
    node: Any = contract.schemas.get(document)
    for part in pointer.split("/")[1:]:
        node = node.get(part) if isinstance(node, dict) else None
    return document, node


#: The steps of an evaluation path through which jsonschema-rs' evaluation lists an error as `iter_errors`
#: does (the applicators that only pass a value on, and `then`/`else`).
THROUGH = frozenset(
    {"$ref", "properties", "patternProperties", "items", "prefixItems", "additionalProperties", "allOf", "then", "else"}
)


@functools.lru_cache(maxsize=64)
def _evaluations(contract: Contract, event: str) -> dict[tuple[int, str], tuple[Any, ...] | None]:
    """Each keyword of an event's schema, by (node identity, keyword), with the evaluation path that reaches
    it; None where two reach it, or one through a step not in THROUGH (`_explained_fast`). Empty for a
    schema that recurses (every keyword in the cycle has endless paths): Python `jsonschema` says them."""
    found: dict[tuple[int, str], tuple[Any, ...] | None] = {}

    def walk(node: Any, document: str, evaluation: tuple[Any, ...], through: bool, inside: frozenset[int]) -> bool:
        if not isinstance(node, dict):
            return True
        if id(node) in inside:
            return False
        inside |= {id(node)}
        for keyword in node:
            key, path = (id(node), keyword), (*evaluation, keyword)
            found[key] = path if through and found.get(key, path) == path else None
        if isinstance(node.get("$ref"), str):
            target_document, target = _resolved(contract, document, node["$ref"])
            if not walk(target, target_document, (*evaluation, "$ref"), through, inside):
                return False
        for name, child, _ in subschemas(node, ""):
            keyword, _, inner = name.partition("/")
            step = (
                (keyword, int(inner))
                if keyword in (*IN_PLACE, "prefixItems")
                else (keyword, inner)
                if inner
                else (keyword,)
            )
            if not walk(child, document, (*evaluation, *step), through and keyword in THROUGH, inside):
                return False
        return True

    document = contract.registry.event(event).schema
    return found if walk(contract.schemas[document], document, (), True, frozenset()) else {}


@functools.lru_cache(maxsize=4096)
def _node_at(contract: Contract, location: str | None) -> tuple[dict[str, Any], str] | None:
    """The schema node holding the keyword at an absolute keyword location (`<document URI>#/<pointer>`)."""
    uri, _, pointer = (location or "").partition("#")
    node: Any = contract.schemas.get(uri.removeprefix(SCHEMA_BASE)) if uri.startswith(SCHEMA_BASE) else None
    parts = [unquote(p).replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if node is None or not parts:
        return None
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return (node, parts[-1]) if isinstance(node, dict) and parts[-1] in node else None


def check_event(
    event: Mapping[str, Any], contract: Contract, as_type: str | None = None, frame: Frame | None = None
) -> list[Violation]:
    """Judge one server event against the schema of its type (or of `as_type`).

    Unknown event types are not judged (a server may send other events); unknown fields are
    never a violation. A valid event costs one jsonschema-rs validation; an invalid one is
    explained from jsonschema-rs' errors, or by Python `jsonschema` where those cannot say it.
    """
    event_type = as_type or event.get("type")
    judged_by = contract.judged_by.get(event_type) if isinstance(event_type, str) else None
    if judged_by is None or contract.fast[judged_by.event].is_valid(event):
        return []
    return _violations(event, contract, judged_by, frame)


def _violations(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements, frame: Frame | None
) -> list[Violation]:
    """An event its schema rejects, explained: from jsonschema-rs' errors, or by Python `jsonschema`."""
    found = _explained_fast(event, contract, judged_by, frame)
    return found if found is not None else _explained(event, contract, judged_by, frame)


def decode(frame: Frame) -> tuple[Received, dict[str, Any] | None]:
    """A server frame as received, and its event when its text is one JSON object."""
    if frame.kind != "text" or frame.text is None:
        return Received(frame), None
    try:
        event = frame.json()  # parsed once, kept with the frame: the runner reads it too
    except (json.JSONDecodeError, RecursionError):
        return Received(frame, f"a text frame that is not JSON: {describe_value(frame.text[:60])}"), None
    if not isinstance(event, dict):
        return Received(frame, f"a JSON {json_type(event)}, not an object: {describe_value(event)}"), None
    return Received(frame), event


@connection_check(TEXT_FRAME)
def check_text_frames(conn: Connection) -> Iterator[Finding]:
    for received in conn.received:
        binary = received.frame.kind == "binary"
        yield Finding((Flaw("(frame)", "a binary frame; events are text frames", received.frame),)) if binary else HELD


@connection_check(JSON_OBJECT)
def check_json_objects(conn: Connection) -> Iterator[Finding]:
    for received in conn.received:
        if received.frame.kind == "text":
            problem = received.not_an_event
            yield Finding((Flaw("(frame)", problem, received.frame),)) if problem else HELD


def check_frame(frame: Frame) -> tuple[list[Violation], dict[str, Any] | None]:
    """The wire checks of one server frame alone; the violations and the event, if it is one."""
    received, event = decode(frame)
    if frame.kind == "binary":
        return [Violation(TEXT_FRAME, "(frame)", "a binary frame; events are text frames", frame)], None
    problem = received.not_an_event
    return ([Violation(JSON_OBJECT, "(frame)", problem, frame)] if problem else []), event


class Unexplained(Exception):
    """An invalid event, not explained because explaining was not asked for (it may take long)."""


def judge_server_frame(
    frame: Frame, contract: Contract, explain: bool = True
) -> tuple[list[Violation], frozenset[str], Received, dict[str, Any] | None]:
    """One server frame: its schema violations, the requirements its schema exercised, and the
    frame as received with its event (the wire checks judge it in the registry). Without `explain`,
    an event its schema rejects raises `Unexplained` instead: only one validation is spent on it."""
    received, event = decode(frame)
    if event is None:
        return [], frozenset(), received, None
    event_type = event.get("type")
    judged_by = contract.judged_by.get(event_type) if isinstance(event_type, str) else None
    exercised = judged_by.ids if judged_by is not None else frozenset()
    if judged_by is None or contract.fast[judged_by.event].is_valid(event):
        return [], exercised, received, event  # as `check_event` judges it: one validation
    if not explain:
        raise Unexplained(event_type)
    return _violations(event, contract, judged_by, frame), exercised, received, event


def requirement_for(contract: Contract, event_type: str, path: str, keyword: str) -> Requirement:
    """The requirement judging `keyword` at the dotted instance `path` of an event: the one its
    schema node names (for `required`, the missing member's). For tests and documentation."""
    return contract.requirement(contract.judged_by[event_type].at_path(path, keyword))
