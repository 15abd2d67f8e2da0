"""Single-fault probes (each breaks exactly one documented rule of session.update) and value updates
(values a server may mangle while accepting them), sent a few to a connection by `probe_plans`.

Rules and values come from the schemas; only updates the oracle calls invalid are kept as probes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from conformance.contract.oracle import DEFAULT_SESSION_TYPE, TYPE_PLACEHOLDER, classify
from conformance.generate.plan import Plan
from conformance.generate.strategies import (
    JSON_SAMPLES,
    LONG_MAX,
    PATCH_FIELDS,
    as_text,
    default_contract,
    event,
    update_is_valid,
)


def _base(event_id: str) -> dict[str, Any]:
    """A valid update that sets nothing but the session type the documents default to."""
    return event({"type": DEFAULT_SESSION_TYPE}, event_id)


def _near_misses(valid: str) -> list[str]:
    """Strings close to a valid one: case, surrounding blanks, a letter short or over, a look-alike."""
    return [
        valid.capitalize(),
        valid.upper(),
        valid + " ",
        " " + valid,
        valid[:-1],
        valid + "s",
        valid.replace(".", "_"),
        valid.replace("e", "\u0435"),  # Cyrillic e
        "",
        "bogus",
    ]


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """A property schema with its `$ref` into realtime-session.json followed (one level, as they are)."""
    ref = schema.get("$ref", "")
    if ref.startswith("realtime-session.json#/properties/"):
        return {**PATCH_FIELDS[ref.rsplit("/", 1)[1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _examples(schema: dict[str, Any], field: str) -> list[str]:
    """Valid strings of a rule that constrains strings (an enum, a const, a pattern)."""
    if "enum" in schema:
        return [v for v in schema["enum"] if isinstance(v, str)]
    if "const" in schema:
        return [schema["const"]] if isinstance(schema["const"], str) else []
    if "pattern" in schema and field == "model":
        return [f"gpt://b1gprobefolder/{name}" for name in default_contract().model_names]
    return []


def probes() -> list[tuple[str, str]]:
    """For every documented rule of session.update, otherwise valid updates that break exactly it.

    Like Schemathesis' coverage phase, but one fault per update, so that a server that rejects
    for another reason cannot hide the rule under test. Rules and values come from the schemas:
    each field's JSON type (one sample of every other type), each enum, const and pattern (near
    misses of its valid strings), each array's item type, each required field. Only updates the
    oracle calls invalid are kept. Returns (rule, update text) pairs.
    """
    update_schema = default_contract().schemas["session.update.json"]
    patch = default_contract().schemas["session-update-patch.json"]["properties"]
    out: list[tuple[str, dict[str, Any] | str]] = [("JSON", "session.update please"), ("object", "[]")]
    for name in update_schema["required"]:
        broken = _base("")
        del broken[name]
        out.append((f"{name} required", broken))
    targets: list[tuple[str, dict[str, Any], Callable[[Any], dict[str, Any]]]] = [
        ("type", update_schema["properties"]["type"], lambda v: {**_base(""), "type": v}),
        ("event_id", update_schema["properties"]["event_id"], lambda v: {**_base(""), "event_id": v}),
        ("session", {"type": "object"}, lambda v: {**_base(""), "session": v}),
    ]

    def setter(field: str) -> Callable[[Any], dict[str, Any]]:
        return lambda value: event({"type": DEFAULT_SESSION_TYPE, field: value}, "")

    targets += [(f"session.{field}", _resolved(schema), setter(field)) for field, schema in patch.items()]
    for rule, schema, put in targets:
        values = [v for v in JSON_SAMPLES if v is not None]
        values += [m for example in _examples(schema, rule.rsplit(".", 1)[-1]) for m in _near_misses(example)]
        items = schema.get("items")
        if isinstance(items, dict):
            fine = next(v for v in JSON_SAMPLES if update_is_valid(put([v])))
            values += [[fine, v] for v in JSON_SAMPLES] + [[v] for v in JSON_SAMPLES]
        out += [(rule, put(v)) for v in values]
    kept: dict[str, str] = {}  # text -> rule, in order
    for rule, update in out:
        text = as_text(update)
        if text not in kept and classify(text, default_contract()).kind == "invalid":
            kept[text] = rule
    return [(rule, text) for text, rule in kept.items()]


def value_updates() -> list[str]:
    """Valid and undetermined updates with the values a server may mangle while accepting them:
    every Unicode plane, combining and non-NFC sequences, escapes, long strings, nested booleans and
    numbers, documented fields with values the documents do not list. Each is written with and
    without JSON escapes; an accepting answer must give each value back exactly."""
    planes = "".join(chr(plane * 0x10000 + 0x100) for plane in range(17))
    strings = [
        planes,
        "e\u0301 A\u030a \u212b \u1e9b\u0323 \ufb01",  # decomposed, combining, compatibility forms
        unicodedata.normalize("NFD", "Ångström café naïve"),
        '\u0000\u001f"\\/\b\f\n\r\t \u2028\u2029 \ufeff \U0001f600',
        "x" * 1024,
        "\u00e9" * 1025,
        "\U0001f600" * 10_000,
        "ab" * (LONG_MAX // 2),
    ]
    tool = {
        "type": "function",
        "name": "probe_values",
        "description": "e\u0301",
        "parameters": {
            "type": "object",
            "properties": {
                "flag": {"type": "boolean", "default": True},
                "off": {"type": "boolean", "default": False},
                "count": {"type": "integer", "minimum": 0, "maximum": 1, "default": 1},
                "ratio": {"type": "number", "minimum": -0.5, "maximum": 2.5, "default": 0},
                "nested": {"type": "object", "properties": {"on": {"type": "boolean", "default": True}}},
            },
            "required": ["flag"],
            "additionalProperties": False,
        },
    }
    sessions: list[dict[str, Any]] = [{"instructions": s} for s in strings]
    sessions += [
        {"tools": [tool]},
        {"voice": "alloy"},
        {"turn_detection": {"type": "server_vad", "threshold": 0.25, "create_response": True}},
    ]
    texts = []
    for i, session in enumerate(sessions):
        update = event({"type": TYPE_PLACEHOLDER, **session}, f"value-{i}")
        texts += [as_text(update), as_text(update, ascii_only=False)]
    return list(dict.fromkeys(texts))


PROBES_PER_CONNECTION = 4
#: Probes also sent alone, each the first update of its own connection: what comes back within the
#: timeout is then certainly its own answer, whatever else the server sends (a rejection followed by
#: a session.updated, say), so no late or extra answer can make its pairing uncertain.
PROBES_ALONE = 8


def probe_plans() -> list[Plan]:
    """The single-fault probes and the value updates, a few to a connection, each opened by a valid
    update; and a spread of the probes alone, each on a connection of its own."""
    numbered = [
        text.replace('"event_id": ""', f'"event_id": "probe-{i}"', 1) for i, (_, text) in enumerate(probes(), 1)
    ]
    values = value_updates()
    out = []
    for label, texts in (("probe", numbered), ("values", values)):
        for n, i in enumerate(range(0, len(texts), PROBES_PER_CONNECTION), 1):
            opening = as_text(_base(f"{label}-{n}-open"))
            out.append(Plan(f"{label} #{n}", (opening, *texts[i : i + PROBES_PER_CONNECTION])))
    spread = numbered[:: max(1, len(numbered) // PROBES_ALONE)][:PROBES_ALONE]
    out += [Plan(f"probe alone #{n}", (text,)) for n, text in enumerate(spread, 1)]
    return out
