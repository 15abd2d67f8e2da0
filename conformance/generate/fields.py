"""What the run's dialect says of an update's session fields, read from its contract: the known-valid
values, each field's typing schema (followed through `$ref` and the schema's branch for the session
type), the model a valid update may set (none where the dialect fixes it) and names no field of the dialect has.

Everything is derived from the `Contract` in hand (the run's dialect and model names), never from
the default dialect's files, and kept once per contract.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator

from conformance.contract import PATCH_SCHEMA, Contract
from conformance.contract.oracle import DEFAULT_SESSION_TYPE
from conformance.generate.plan import MODEL_PLACEHOLDER

#: Names that are a field of no documented session (yandex's); those a dialect documents are left out.
UNKNOWN_CANDIDATES = ("speed", "tracing", "max_output_tokens", "prompt")
#: Used when a dialect documents every candidate: a name no dialect has.
UNKNOWN_FALLBACK = "x_conformance_unknown"


def known(contract: Contract) -> dict[str, Any]:
    """The dialect's known-valid values (known-values.json) as a schema."""
    values: dict[str, Any] = contract.schemas["known-values.json"]
    return values


def typed_properties(schema: dict[str, Any], session_type: str = DEFAULT_SESSION_TYPE) -> dict[str, Any]:
    """A session schema's properties as they are typed on a session of `session_type`: a schema that
    types its fields per type (openai: `if type is transcription then … else …`) adds its branch's."""
    properties: dict[str, Any] = dict(schema.get("properties", {}))
    if isinstance(schema.get("if"), dict):
        taken = Draft202012Validator(schema["if"]).is_valid({"type": session_type})
        branch = schema.get("then" if taken else "else", {})
        for name, typed in branch.get("properties", {}).items():
            properties[name] = {**properties.get(name, {}), **typed}
    return properties


@functools.cache
def session_fields(contract: Contract) -> dict[str, Any]:
    """The documented RealtimeSession fields with the schemas that type them (realtime-session.json)."""
    return typed_properties(contract.schemas["realtime-session.json"])


@functools.cache
def patch_fields(contract: Contract) -> dict[str, Any]:
    """The documented fields of an update's session with the schemas that judge them there
    (session-update-patch.json, a `$ref` into realtime-session.json followed one level, as they are)."""
    out = {}
    for name, schema in typed_properties(contract.schemas[PATCH_SCHEMA]).items():
        ref = schema.get("$ref", "")
        if ref.startswith("realtime-session.json#/properties/"):
            target = contract.schemas["realtime-session.json"]["properties"][ref.rsplit("/", 1)[1]]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        out[name] = schema
    return out


def patch_required(contract: Contract) -> tuple[str, ...]:
    """The session fields every update must set (openai: `type`; yandex: none, the session is a patch)."""
    return tuple(contract.schemas[PATCH_SCHEMA].get("required", ()))


def unknown_names(contract: Contract) -> list[str]:
    """Field names the dialect does not document (an update setting one is undetermined)."""
    fields = set(contract.patch_properties) | set(session_fields(contract))
    return [name for name in UNKNOWN_CANDIDATES if name not in fields] or [UNKNOWN_FALLBACK]


def model_values(contract: Contract) -> list[str]:
    """What a valid update may set as its model: the placeholder for the model the target announced (or
    the URL's, or `--model`); nothing in a dialect whose updates may not change the model (openai's
    `model_fixed`: the oracle calls any update setting it undetermined)."""
    return [] if contract.dialect_info.get("model_fixed") else [MODEL_PLACEHOLDER]


def model_examples(contract: Contract) -> list[str]:
    """Well-formed model IDs of the dialect (the bases of the model's near-miss probes): each supported
    name in the dialect's form (dialect.json `model_id`: a folder's URI in yandex, the name in openai)."""
    return [contract.model_id("b1gprobefolder", name) for name in contract.model_names]


def _coerced(value: Any) -> list[Any]:
    """What a lax validator (pydantic, as the SDKs type fields) may read a JSON scalar as: a boolean as
    0 or 1, 0 or 1 as a boolean, an integral float as an integer."""
    if isinstance(value, bool):
        return [int(value), float(value)]
    if isinstance(value, int) and value in (0, 1):
        return [bool(value)]
    if isinstance(value, float) and value.is_integer():
        return [int(value)]
    return []


def _variants(value: Any) -> Iterator[Any]:
    """`value` with one scalar anywhere in it read as a lax validator may read it."""
    yield from _coerced(value)
    if isinstance(value, dict):
        for key, inner in value.items():
            for variant in _variants(inner):
                yield {**value, key: variant}
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            for variant in _variants(inner):
                yield [*value[:index], variant, *value[index + 1 :]]


def coercible(update: Any, contract: Contract) -> bool:
    """Whether an update the schema rejects is valid once one of its scalars is read laxly (`true` for an
    integer, `0` for a boolean): servers that validate with the SDK's own types accept those, and
    the documents do not say they must not, so a probe or a broken draw built on one proves nothing
    and is not sent (the oracle still judges whatever is sent)."""
    valid = contract.fast["session.update"].is_valid
    return not valid(update) and any(valid(variant) for variant in _variants(update))
