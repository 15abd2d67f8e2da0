"""The openai dialect's JSON Schemas, derived from the official `openai` SDK's own types.

Not written by hand (issue 17): `python -m conformance.contract.sdkschemas` regenerates
`spec/openai/schemas/` from the installed SDK's pydantic models (`model_json_schema()`), and
`--check` fails when the committed files drift from it. Each generated file keeps the name the
contract expects; `$defs` are inlined so every node sits at one instance path and carries the
requirement `spec/openai/requirements-map.json` gives that path (`x-requirement`). The session the
server shows is the request types' plus the server's own fields (`id`, `object`, ...), which only the
SDK's session *response* types type. Only the model ID rule comes from the dialect's own data
(`dialect.json`), as the SDK types the model as any string. Which fields of the client's events take
`null` comes from the SDK's request types (`...Param`), not its models, where every optional field
is `Optional[...] = None` (`without_nulls`).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from conformance.contract import SCHEMA_BASE, SPEC_DIR, read_json
from conformance.contract.annotations import ANNOTATION, ASSERTIONS, subschemas

DIALECT_DIR = SPEC_DIR / "openai"
#: Each generated file and the SDK type it is derived from (`openai.types.realtime`).
SOURCES = {
    "session.update.json": "SessionUpdateEvent",
    "session-update-patch.json": "SessionUpdateEvent",
    "realtime-session.json": "SessionUpdatedEvent",
    "session.created.json": "SessionCreatedEvent",
    "session.updated.json": "SessionUpdatedEvent",
    "error.json": "RealtimeErrorEvent",
}
#: The session kinds the SDK's session union holds, by `session.type`.
SESSION_KINDS = {
    "realtime": "RealtimeSessionCreateRequest",
    "transcription": "RealtimeTranscriptionSessionCreateRequest",
}
#: The same kinds as the server returns them: these type the server's own fields (`id`, `object`,
#: ...), which the request types leave out.
SESSION_RESPONSES = {
    "realtime": "RealtimeSessionCreateResponse",
    "transcription": "RealtimeTranscriptionSessionCreateResponse",
}
#: Keywords that, added to a schema, never let it accept more (`minContains: 0` would).
NARROWING = (ASSERTIONS - {"minContains"}) | {"title", "description", "default", "examples"}
#: The session object each event schema refers to instead of the SDK's inline union.
SESSION_REF = {"session.update.json": "session-update-patch.json"}


def _model_schema(name: str) -> dict[str, Any]:
    module = importlib.import_module("openai.types.realtime")
    schema: dict[str, Any] = getattr(module, name).model_json_schema()
    return schema


def _param_schema(name: str) -> dict[str, Any]:
    """The request type (TypedDict) the SDK gives beside the model `name`, as a schema, inlined."""
    module = importlib.import_module("openai.types.realtime")
    schema: dict[str, Any] = TypeAdapter(getattr(module, f"{name}Param")).json_schema()
    inlined: dict[str, Any] = inline(schema, schema.get("$defs", {}))
    return inlined


def _takes_null(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    nullish = kind == "null" or (isinstance(kind, list) and "null" in kind)
    return nullish or None in node.get("enum", [0]) or ("const" in node and node["const"] is None)


def null_paths(schema: dict[str, Any]) -> frozenset[str]:
    """The instance paths at which some branch of `schema` takes `null`."""
    found: set[str] = set()
    stack: list[tuple[dict[str, Any], str]] = [(schema, "")]
    while stack:
        node, path = stack.pop()
        if _takes_null(node):
            found.add(path)
        stack += [(child, inner) for _, child, inner in subschemas(node, path)]
    return frozenset(found)


#: Keywords that only describe a schema: a branch with nothing else but its null is a null branch.
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated", "readOnly"})


def _only_null(branch: Any) -> bool:
    """Whether a union branch takes `null` and nothing else (`{"type": "null"}`, titled or not, a null
    `const`, an enum of null alone)."""
    if not isinstance(branch, dict) or set(branch) - ANNOTATIONS - {"type", "const", "enum"}:
        return False
    kind = branch.get("type")
    return (
        kind == "null"
        or kind == ["null"]
        or ("const" in branch and branch["const"] is None)
        or branch.get("enum") == [None]
    )


def without_nulls(schema: dict[str, Any], nullable: Collection[str]) -> dict[str, Any]:
    """A copy of `schema` whose null branches and null members of type lists and enums are gone, except at
    the `nullable` paths (and where null is all a schema takes: removing it would leave nothing valid).

    The SDK's models type each optional field `Optional[...] = None` (they parse what servers send);
    its request types say which fields a client may really send as null (`event_id: str`,
    `turn_detection: Optional[...]`). spec-notes: a null the documents do not allow is undetermined,
    which the oracle derives only where the schema refuses it. A `not` or an `if` is not walked: a
    null there says what is refused, or when, not what is accepted."""
    out = copy.deepcopy(schema)
    stack: list[tuple[dict[str, Any], str]] = [(out, "")]
    while stack:
        node, path = stack.pop()
        removed = False
        kind, listed = node.get("type"), node.get("enum")
        if path not in nullable and isinstance(kind, list) and "null" in kind and len(kind) > 1:
            rest = [k for k in kind if k != "null"]
            node["type"], removed = rest if len(rest) > 1 else rest[0], True
        if path not in nullable and isinstance(listed, list) and None in listed and len(listed) > 1:
            node["enum"], removed = [v for v in listed if v is not None], True
        for key in ("anyOf", "oneOf"):
            branches = node.get(key)
            if path in nullable or not isinstance(branches, list):
                continue
            kept = [b for b in branches if not _only_null(b)]
            if len(kept) == len(branches) or not kept:
                continue
            removed = True
            if len(kept) == 1:
                del node[key]
                node.update({k: v for k, v in kept[0].items() if k not in node})
            else:
                node[key] = kept
        if removed and "default" in node and node["default"] is None:
            del node["default"]
        stack += [(child, inner) for where, child, inner in subschemas(node, path) if where not in ("not", "if")]
    return out


def inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """The schema with every local `$ref` replaced by a copy of its definition (so each node has one path)."""
    if isinstance(node, list):
        return [inline(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in seen:
            raise ValueError(f"the SDK's {name} refers to itself: it cannot be inlined")
        out.update(inline(defs[name], defs, (*seen, name)))
    out.update({k: inline(v, defs, seen) for k, v in node.items() if k not in ("$ref", "$defs")})
    return out


def requirement_at(mapping: dict[str, Any], path: str) -> Any:
    """The mapping's entry for the longest prefix of `path`; `(other)` for a field none names."""
    parts = path.split(".") if path else []
    for end in range(len(parts), -1, -1):
        key = ".".join(parts[:end])
        if key in mapping:
            return mapping[key]
    return mapping.get("(other)") if path else None


def annotate(schema: dict[str, Any], mapping: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` whose every node names the requirement judging it (where the map gives one)."""
    out = copy.deepcopy(schema)
    stack: list[tuple[dict[str, Any], str]] = [(out, "")]
    while stack:
        node, path = stack.pop()
        requirement = requirement_at(mapping, path)
        if requirement is not None:
            node[ANNOTATION] = requirement
        stack += [(child, inner) for _, child, inner in subschemas(node, path)]
    return out


def _branch(kind: str, nullable: Collection[str] | None) -> dict[str, Any]:
    """One session kind of the SDK, inlined, without `type` (the discriminator, judged once) and `model`;
    null only at the `nullable` paths, where given (the client's)."""
    schema = _model_schema(SESSION_KINDS[kind])
    branch: dict[str, Any] = inline(schema, schema.get("$defs", {}))
    if nullable is not None:
        branch = without_nulls(branch, nullable)
    branch["properties"] = {k: v for k, v in branch["properties"].items() if k not in ("type", "model")}
    branch["required"] = [r for r in branch.get("required", []) if r not in ("type", "model")]
    if not branch["required"]:
        del branch["required"]
    return branch


def server_fields() -> dict[str, Any]:
    """The fields only the server's session has (its response types' beyond the request types'), marked
    `readOnly` (the server's own). Each accepts what any kind's response accepts (`anyOf` where they
    differ): `object` is the kind's label (realtime pins `realtime.session`) and may change with
    `session.type` (spec-notes, "Patch semantics"), so neither label fails either kind."""
    by_kind: list[dict[str, Any]] = []
    for kind, sdk_name in SESSION_RESPONSES.items():
        schema = _model_schema(sdk_name)
        response = inline(schema, schema.get("$defs", {}))["properties"]
        request = _model_schema(SESSION_KINDS[kind])["properties"]
        by_kind.append({name: field for name, field in response.items() if name not in request})
    fields: dict[str, Any] = {}
    for name in sorted({name for kind in by_kind for name in kind}):
        said = [kind[name] for kind in by_kind if name in kind]
        # a kind's schema that adds keywords to another's accepts less: the other's is the union
        weakest = [
            f for i, f in enumerate(said) if not any(_narrows(f, g) or (f == g and j < i) for j, g in enumerate(said))
        ]
        fields[name] = (weakest[0] if len(weakest) == 1 else {"anyOf": weakest}) | {"readOnly": True}
    return fields


def _narrows(schema: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether `schema` is `other` with assertions (or annotations) added, so it accepts no more than
    `other` (not so for added applicators such as `properties` beside `additionalProperties`)."""
    added = set(schema) - set(other)
    return bool(added) and other.items() <= schema.items() and added <= NARROWING


def session_schema(dialect: dict[str, Any], server: bool = False) -> dict[str, Any]:
    """The SDK's session union as one object: `type` picks the kind (if/then/else), so an error names
    the field it is about, not the union; the model ID rule is the dialect's. `server`: the session
    as the server shows it, with its own fields (`server_fields`)."""
    nullable = {kind: None if server else null_paths(_param_schema(name)) for kind, name in SESSION_KINDS.items()}
    kinds = {kind: _branch(kind, nullable[kind]) for kind in SESSION_KINDS}
    fields = sorted({name for branch in kinds.values() for name in branch["properties"]})
    realtime, transcription = kinds["realtime"], kinds["transcription"]
    model = {k: v for k, v in dialect["model"].items() if k != ANNOTATION}
    if not server and not any("model" in paths for paths in nullable.values() if paths is not None):
        model = without_nulls(model, ())
    return {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"description": "The type of session.", "type": "string", "enum": list(SESSION_KINDS)},
            "model": model,
            **(server_fields() if server else {}),
            **{name: {} for name in fields},
        },
        "if": {"properties": {"type": {"const": "transcription"}}, "required": ["type"]},
        "then": transcription,
        "else": realtime,
    }


def event_schema(name: str, sdk_name: str) -> dict[str, Any]:
    """An event of the SDK, inlined, its `session` union replaced by a reference to the session schema."""
    schema = _model_schema(sdk_name)
    event: dict[str, Any] = inline(schema, schema.get("$defs", {}))
    if name in SESSION_REF:  # the client's event
        event = without_nulls(event, null_paths(_param_schema(sdk_name)))
    if "session" in event["properties"]:
        event["properties"]["session"] = {"$ref": SESSION_REF.get(name, "realtime-session.json")}
    return event


def _origin(name: str, sdk_name: str) -> str:
    if name != "realtime-session.json":
        return sdk_name
    return f"{sdk_name} (the server's own fields: {' and '.join(SESSION_RESPONSES.values())})"


def documents(dialect_dir: Path = DIALECT_DIR) -> dict[str, dict[str, Any]]:
    """Every schema file of the dialect, as the installed SDK types it."""
    dialect = read_json(dialect_dir / "dialect.json")
    mapping = read_json(dialect_dir / "requirements-map.json")
    out: dict[str, dict[str, Any]] = {}
    for name, sdk_name in SOURCES.items():
        if name in ("realtime-session.json", "session-update-patch.json"):
            body = session_schema(dialect, server=name == "realtime-session.json")
        else:
            body = event_schema(name, sdk_name)
        body = annotate(body, mapping.get(name, {}))
        if name == "realtime-session.json":
            body["properties"]["model"][ANNOTATION] = dialect["model"][ANNOTATION]
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_BASE + name,
            "$comment": f"Generated from the openai SDK's openai.types.realtime.{_origin(name, sdk_name)} by "
            "python -m conformance.contract.sdkschemas; do not edit.",
            **body,
        }
    return out


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def drift(dialect_dir: Path = DIALECT_DIR) -> list[str]:
    """The committed schema files that differ from what the installed SDK gives (or are missing)."""
    folder = dialect_dir / "schemas"
    return [
        name
        for name, document in documents(dialect_dir).items()
        if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != render(document)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.contract.sdkschemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed schemas drift from the SDK")
    args = parser.parse_args(argv)
    if args.check:
        drifted = drift()
        for name in drifted:
            print(f"spec/openai/schemas/{name} differs from the installed openai SDK; regenerate it")
        return 1 if drifted else 0
    folder = DIALECT_DIR / "schemas"
    folder.mkdir(exist_ok=True)
    for name, document in documents().items():
        (folder / name).write_text(render(document), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
