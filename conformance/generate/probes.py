"""Single-fault probes (each breaks exactly one documented rule of session.update) and value updates
(values a server may mangle while accepting them), sent a few to a connection by `probe_plans`.

Rules and values come from the run's contract (its dialect's schemas and known values); only updates
its oracle calls invalid are kept as probes.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from conformance.contract import Contract
from conformance.contract.oracle import DEFAULT_SESSION_TYPE, TYPE_PLACEHOLDER, classify
from conformance.generate import fields
from conformance.generate.plan import Plan
from conformance.generate.strategies import JSON_SAMPLES, LONG_MAX, as_text, contract_of, event, update_is_valid


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


def _examples(schema: dict[str, Any], field: str, contract: Contract) -> list[str]:
    """Valid strings of a rule that constrains strings (an enum, a const, a pattern; those of each
    alternative of an `anyOf`, as the SDK-derived schemas type a field)."""
    if "enum" in schema:
        return [v for v in schema["enum"] if isinstance(v, str)]
    if "const" in schema:
        return [schema["const"]] if isinstance(schema["const"], str) else []
    if "pattern" in schema and field == "model":
        return fields.model_examples(contract)
    return [e for branch in schema.get("anyOf", []) for e in _examples(branch, field, contract)]


def _items(schema: dict[str, Any]) -> Any:
    """The item schema of an array field (of its array alternative, under an `anyOf`)."""
    if "items" in schema:
        return schema["items"]
    return next((b["items"] for b in schema.get("anyOf", []) if isinstance(b.get("items"), dict)), None)


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every member of a known-valid object below its top, with its path (`audio.output.voice`)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*path, key), inner
            yield from _leaves(inner, (*path, key))


def _with_leaf(value: Any, path: tuple[str, ...], leaf: Any) -> Any:
    if not path:
        return leaf
    return {**value, path[0]: _with_leaf(value[path[0]], path[1:], leaf)}


def _nested(contract: Contract) -> list[tuple[str, dict[str, Any]]]:
    """A known-valid object value (the guide's audio) with one member given each other JSON type, or
    a near miss of its string: what the dialect types below the top (GA: `audio.output.voice`, the
    formats' rates and types) is probed where its schema has a rule there."""
    out = []
    for field, schema in fields.known(contract)["properties"].items():
        value = schema.get("const")
        for path, leaf in _leaves(value):
            misses = _near_misses(leaf) if isinstance(leaf, str) else []
            for wrong in [*(v for v in JSON_SAMPLES if v is not None), *misses]:
                session = {"type": DEFAULT_SESSION_TYPE, field: _with_leaf(value, path, wrong)}
                out.append((f"session.{field}.{'.'.join(path)}", event(session, "")))
    return out


def probes(contract: Contract | None = None) -> list[tuple[str, str]]:
    """The contract's single-fault probes (the default dialect's without one): see `dialect_probes`."""
    return dialect_probes(contract_of(contract))


@functools.cache
def dialect_probes(contract: Contract) -> list[tuple[str, str]]:
    """For every documented rule of session.update, otherwise valid updates that break exactly it.

    Like Schemathesis' coverage phase, but one fault per update, so that a server that rejects
    for another reason cannot hide the rule under test. Rules and values come from the schemas:
    each field's JSON type (one sample of every other type), each enum, const and pattern (near
    misses of its valid strings), each array's item type, each required field. Only updates the
    oracle calls invalid are kept. Returns (rule, update text) pairs.
    """
    update_schema = contract.schemas["session.update.json"]
    patch = fields.patch_fields(contract)
    out: list[tuple[str, dict[str, Any] | str]] = [("JSON", "session.update please"), ("object", "[]")]
    for name in update_schema["required"]:
        broken = _base("")
        del broken[name]
        out.append((f"{name} required", broken))
    for name in fields.patch_required(contract):  # a rule of the dialect's session (GA: session.type)
        session = {k: v for k, v in {"type": DEFAULT_SESSION_TYPE}.items() if k != name}
        out.append((f"session.{name} required", event(session, "")))
    targets: list[tuple[str, dict[str, Any], Callable[[Any], dict[str, Any]]]] = [
        ("type", update_schema["properties"]["type"], lambda v: {**_base(""), "type": v}),
        ("event_id", update_schema["properties"]["event_id"], lambda v: {**_base(""), "event_id": v}),
        ("session", {"type": "object"}, lambda v: {**_base(""), "session": v}),
    ]

    def setter(field: str) -> Callable[[Any], dict[str, Any]]:
        return lambda value: event({"type": DEFAULT_SESSION_TYPE, field: value}, "")

    targets += [(f"session.{field}", schema, setter(field)) for field, schema in patch.items()]
    for rule, schema, put in targets:
        values = [v for v in JSON_SAMPLES if v is not None]
        values += [m for example in _examples(schema, rule.rsplit(".", 1)[-1], contract) for m in _near_misses(example)]
        if isinstance(_items(schema), dict):
            fine = next((v for v in JSON_SAMPLES if update_is_valid(put([v]), contract)), None)
            values += [[fine, v] for v in JSON_SAMPLES if fine is not None] + [[v] for v in JSON_SAMPLES]
        out += [(rule, put(v)) for v in values]
    out += _nested(contract)
    kept: dict[str, str] = {}  # text -> rule, in order
    for rule, update in out:
        text = as_text(update)
        if text in kept or classify(text, contract).kind != "invalid":
            continue
        if not (isinstance(update, dict) and fields.coercible(update, contract)):
            kept[text] = rule
    return [(rule, text) for text, rule in kept.items()]


def value_updates(contract: Contract | None = None) -> list[str]:
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
    sessions += _other_fields(contract_of(contract), {k for session in sessions for k in session})
    texts = []
    for i, session in enumerate(sessions):
        update = event({"type": TYPE_PLACEHOLDER, **session}, f"value-{i}")
        texts += [as_text(update), as_text(update, ascii_only=False)]
    return list(dict.fromkeys(texts))


def _other_fields(contract: Contract, set_already: set[str]) -> list[dict[str, Any]]:
    """An update for each writable field of the dialect's session that neither its known values nor
    the updates above set (openai's max_output_tokens, tracing, …), with a well-typed value: so that
    every field it types is applied and comes back (judged by its requirement, RS-SDK-FIELD-TYPES);
    and, where the voice lives under audio.output (GA), another voice there."""
    known = fields.known(contract)["properties"]
    out = []
    for field, schema in fields.patch_fields(contract).items():
        if field in {"type", "model", *known, *set_already, *contract.read_only}:
            continue
        value = example(schema)
        if value is not None and update_is_valid(event({"type": DEFAULT_SESSION_TYPE, field: value}, None), contract):
            out.append({field: value})
    audio = known.get("audio", {}).get("const")
    if "voice" not in fields.session_fields(contract) and isinstance(audio, dict):
        out.append({"audio": {**audio, "output": {**audio.get("output", {}), "voice": "alloy"}}})
    return out


def example(schema: dict[str, Any]) -> Any:
    """One small value a schema accepts, not null (its first alternative that has one); None if none."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next((v for v in schema["enum"] if v is not None), None)
    for branch in schema.get("anyOf", []):
        if (value := example(branch)) is not None:
            return value
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "object":
        members = {k: example(v) for k, v in schema.get("properties", {}).items() if k in schema.get("required", ())}
        return None if None in members.values() else members
    simple = {"array": [], "string": "probe", "integer": 1, "number": 0.5, "boolean": True}
    return simple.get(kind) if isinstance(kind, str) else None


PROBES_PER_CONNECTION = 4
#: Probes also sent alone, each the first update of its own connection: what comes back within the
#: timeout is then certainly its own answer, whatever else the server sends (a rejection followed by
#: a session.updated, say), so no late or extra answer can make its pairing uncertain.
PROBES_ALONE = 8


def _plain(event_id: str) -> str:
    """A valid update on any session: it sets only the type the target announced (filled in at send time)."""
    return as_text(event({"type": TYPE_PLACEHOLDER}, event_id))


def probe_plans(contract: Contract | None = None) -> list[Plan]:
    """The single-fault probes and the value updates, a few to a connection, each opened by a valid
    update; and a spread of the probes alone, each on a connection of its own.

    A probe connection ends with a valid update too: after its last probe's error, that is an update
    whose answer shows the target usable and its configuration kept (EX-USABLE-AFTER-ERROR,
    EX-KEEP-CONFIG), on every session type, so a certified run exercises them well past its minimum."""
    numbered = [
        text.replace('"event_id": ""', f'"event_id": "probe-{i}"', 1) for i, (_, text) in enumerate(probes(contract), 1)
    ]
    values = value_updates(contract)
    out = []
    for label, texts in (("probe", numbered), ("values", values)):
        for n, i in enumerate(range(0, len(texts), PROBES_PER_CONNECTION), 1):
            closing = (_plain(f"{label}-{n}-after"),) if label == "probe" else ()
            opening = _plain(f"{label}-{n}-open")
            out.append(Plan(f"{label} #{n}", (opening, *texts[i : i + PROBES_PER_CONNECTION], *closing)))
    spread = numbered[:: max(1, len(numbered) // PROBES_ALONE)][:PROBES_ALONE]
    out += [Plan(f"probe alone #{n}", (text,)) for n, text in enumerate(spread, 1)]
    return out
