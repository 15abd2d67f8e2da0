"""Which members of a value an update sets no schema of its field documents.

spec-notes leaves it to the server whether an unknown field in `session` is rejected or ignored. A
member is unknown, at any depth, where the documents type the object it sits in and name no such
member (the openai SDK's models: `audio.output` on a transcription session, a key no tool kind has).
A server that accepts the update may ignore it, so no answer must show it. An object the documents
leave untyped (yandex's `audio`, a tool's `parameters`) names no member: all it is given is data that
an accepting answer shows (spec-notes, "Accepting means applying").
"""

from __future__ import annotations

from typing import Any

from conformance.contract import Contract
from conformance.contract.paths import Path

#: The keywords the walk follows to learn where a member is documented (`$ref` only alone, or beside
#: `INERT` ones). A schema with any other keyword but `INERT` ones is one the walk may misjudge (an
#: if/then/else, `dependentSchemas`, `prefixItems`, `patternProperties`' values, `$anchor` refs): the
#: dialects' schemas have none, and a test fails the day one does.
WALKED = frozenset({"properties", "additionalProperties", "items", "anyOf", "oneOf", "allOf", "$ref"})

#: Keywords that constrain or describe a value but document no member: the walk passes them by. (Not `$id`
#: below a document's root: it would move the base a `$ref` there resolves against, which the walk ignores.)
INERT = frozenset(
    {
        "$comment", "$schema", "title", "description", "default", "examples", "deprecated",
        "readOnly", "writeOnly", "x-requirement", "type", "enum", "const", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
        "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "required",
        "$defs", "definitions",  # where $ref targets sit: read through the $ref, not here
    }
)  # fmt: skip

#: The unions the walk follows into: a value's valid branches (`allOf`: every branch).
UNIONS = ("anyOf", "oneOf", "allOf")

#: How deep the walk follows the schema: the dialects' schemas are a few levels deep and not
#: recursive; below this a value is left whole (all of it to be shown), never walked without end.
MAX_DEPTH = 32

#: How many `$ref`s in a row the walk follows to reach a schema (a loop of them ends here: no schema).
MAX_REFS = 32

#: How many schema locations `_types_members` looks at before it gives up and lets the walk decide.
MAX_LOCATIONS = 10_000


def undocumented(value: Any, contract: Contract, doc: str, pointer: str) -> tuple[Path, ...]:
    """The paths of the members of `value` that the schema at `doc#pointer` does not document."""
    if not isinstance(value, (dict, list)) or not _types_members(contract, doc, pointer):
        return ()  # the walk could find nothing (every yandex field, most openai ones): not walked per update
    return tuple(sorted(_walk(value, contract, doc, pointer, 0) or (), key=repr))


def _types_members(contract: Contract, doc: str, pointer: str) -> bool:
    """Whether the schema at `doc#pointer` or any it leads the walk to names members (`properties`, or a
    schema `additionalProperties`): only there can the walk find a member undocumented. From the schema
    alone, so asked once per location."""
    key = ("types members", doc, pointer)
    if key not in contract.schema_memo:
        found, pending, seen = False, [(doc, pointer)], set[tuple[str, str]]()
        while pending and not found:
            if len(seen) > MAX_LOCATIONS:
                found = True  # too large to tell: walk it
                break
            at = pending.pop()
            if at in seen:
                continue
            seen.add(at)
            schema, at_doc, at_pointer = _resolved(contract, *at)
            if not isinstance(schema, dict):
                continue
            found = isinstance(schema.get("properties"), dict) or isinstance(schema.get("additionalProperties"), dict)
            if isinstance(schema.get("items"), dict):
                pending.append((at_doc, f"{at_pointer}/items"))
            for union in UNIONS:
                branches = schema.get(union)
                pending += (
                    [(at_doc, f"{at_pointer}/{union}/{i}") for i in range(len(branches))]
                    if isinstance(branches, list)
                    else []
                )
        contract.schema_memo[key] = found
    return bool(contract.schema_memo[key])


def _walk(value: Any, contract: Contract, doc: str, pointer: str, depth: int) -> set[Path] | None:
    """What the schema says is undocumented in `value`; None where it types no member at all.

    Every schema that applies to a node has its say (its own `properties`, each branch of a union the
    value is of): a member is undocumented only where each of them that types the node leaves it out.
    """
    if not isinstance(value, (dict, list)):
        return None  # a scalar has no member: nothing to walk (nor a union branch to judge it by)
    schema, doc, pointer = _resolved(contract, doc, pointer)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    says: list[set[Path]] = []
    properties, open_to = schema.get("properties"), schema.get("additionalProperties")
    if isinstance(value, dict) and (isinstance(properties, dict) or isinstance(open_to, dict)):
        properties = properties if isinstance(properties, dict) else {}
        own: set[Path] = set()
        for name, member in value.items():
            if name in properties:
                inner = _walk(member, contract, doc, f"{pointer}/properties/{_escaped(name)}", depth + 1)
            elif isinstance(open_to, dict):  # a map whose values are typed (openai's prompt.variables)
                inner = _walk(member, contract, doc, f"{pointer}/additionalProperties", depth + 1)
            elif schema.get("patternProperties"):
                continue  # named by a pattern: documented (its value is not walked)
            else:
                own.add((name,))
                continue
            own |= {(name, *path) for path in inner or ()}
        says.append(own)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        own = set()
        for i, item in enumerate(value):
            own |= {(i, *path) for path in _walk(item, contract, doc, f"{pointer}/items", depth + 1) or ()}
        says.append(own)
    for key in UNIONS:
        for i, _ in enumerate(schema.get(key, ())):
            branch = f"{pointer}/{key}/{i}"
            if key == "allOf" or contract.valid_at(value, doc, branch):
                said = _walk(value, contract, doc, branch, depth + 1)
                if said is not None:
                    says.append(said)
    if not says:
        return None
    return set.intersection(*says)


def _escaped(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _resolved(contract: Contract, doc: str, pointer: str) -> tuple[Any, str, str]:
    """The schema at `doc#pointer`, its `$ref`s (`file.json#/pointer`, `#/pointer`) followed; once per location."""
    key = ("resolved", doc, pointer)
    if key not in contract.schema_memo:
        contract.schema_memo[key] = _resolving(contract, doc, pointer)
    resolved: tuple[Any, str, str] = contract.schema_memo[key]
    return resolved


def _resolving(contract: Contract, doc: str, pointer: str) -> tuple[Any, str, str]:
    for _ in range(MAX_REFS):
        schema: Any = contract.schemas.get(doc)
        for part in pointer.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(schema, list) and part.isdigit() and int(part) < len(schema):
                schema = schema[int(part)]
            else:
                schema = schema.get(part) if isinstance(schema, dict) else None
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str):
            return schema, doc, pointer
        file, _, pointer = ref.partition("#")
        doc = file or doc
    return None, doc, pointer
