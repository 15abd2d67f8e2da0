"""Exchanges to send: the scripted ones (smoke) and generated ones (Hypothesis + schemathesis).

Generators only propose; every update is classified by the oracle when it is judged, so a
generator that makes a mistake costs coverage, never a false verdict. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import hypothesis.strategies as st

from conformance.contract import DEFAULT_DIALECT, SPEC_DIR, Contract, load_contract, read_json
from conformance.contract.oracle import DEFAULT_SESSION_TYPE, READ_ONLY, TYPE_PLACEHOLDER, classify, contradicting
from conformance.generate.plan import MODEL_PLACEHOLDER, Plan

SCRIPTED = Path(str(resources.files("conformance") / "suite" / "scripted.json"))


def as_text(update: object, ascii_only: bool = True) -> str:
    return update if isinstance(update, str) else json.dumps(update, ensure_ascii=ascii_only)


def scripted_plans(dialect: str = DEFAULT_DIALECT) -> list[Plan]:
    """The fixed connections of the smoke profile (conformance/suite/scripted.json, or the dialect's own
    spec/<dialect>/scripted.json where its known-valid values differ)."""
    overlay = SPEC_DIR / dialect / "scripted.json"
    source = overlay if dialect != DEFAULT_DIALECT and overlay.is_file() else SCRIPTED
    data = json.loads(source.read_text(encoding="utf-8"))
    return [Plan(c["label"], tuple(as_text(u) for u in c["updates"])) for c in data["connections"]]


# ------------------------------------------------------------------------- generated exchanges


def texts(max_size: int) -> st.SearchStrategy[str]:
    """Strings that a server can get wrong: every plane, combining marks, non-NFC forms, escapes."""
    return st.one_of(
        st.text(max_size=max_size),
        st.text(max_size=max_size).map(lambda s: unicodedata.normalize("NFD", s)),
        st.text(st.sampled_from("aeoAEO\u212b") | st.characters(categories=["Mn", "Mc", "Me"]), max_size=max_size),
        st.text(st.characters(min_codepoint=0x10000), max_size=max_size),
        st.text(st.characters(max_codepoint=0x7F), max_size=max_size),
    )


#: Numbers every JSON parser reads back exactly (few significant digits, within doubles' integers).
NUMBERS = st.one_of(st.integers(-(2**53), 2**53), st.integers(-(2**20), 2**20).map(lambda n: n / 8))


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for the small JSON Schema subset that `known-values.json` uses.

    Only values the schema accepts are drawn; a test checks every draw against the schema.
    """
    root = root if root is not None else schema
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return st.deferred(lambda: from_schema(root["$defs"][name], root))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*(from_schema({**schema, "type": k}, root) for k in kind))
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "number":
        return NUMBERS
    if kind == "integer":  # within what every JSON parser reads exactly
        return st.integers(schema.get("minimum", -(2**53)), schema.get("maximum", 2**53))
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return texts(min(schema.get("maxLength", 40), 40))
    if kind == "array":
        return st.lists(from_schema(schema["items"], root), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = st.fixed_dictionaries(
            {k: from_schema(v, root) for k, v in properties.items() if k in required},
            optional={k: from_schema(v, root) for k, v in properties.items() if k not in required},
        )
        more = schema.get("additionalProperties")
        if not isinstance(more, dict):
            return fixed
        names = from_schema({"type": "string", **schema.get("propertyNames", {})}, root)
        extra = st.dictionaries(names, from_schema(more, root), max_size=min(schema.get("maxProperties", 3), 3))
        return st.builds(lambda a, b: {**b, **a}, fixed, extra)
    raise ValueError(f"known-values.json uses a schema this generator does not know: {schema}")


KNOWN = load_contract().schemas["known-values.json"]
PATCH_FIELDS: dict[str, Any] = load_contract().schemas["realtime-session.json"]["properties"]


def without_contradictions(session: dict[str, Any]) -> dict[str, Any]:
    """Drop one side of every alias pair (spec/aliases.json) that the patch sets to two different values."""
    found = contradicting(session, _contract())
    for path in found[::2]:  # (one side, the other side) of each pair
        *parents, last = path.split(".")
        node: Any = session
        for part in parents:
            node = node[part]
        del node[last]
    return session


@functools.cache
def valid_session() -> st.SearchStrategy[dict[str, Any]]:
    """A patch whose every field has a value the documents say is accepted; `model` and `type` are
    placeholders for what the target announced (only the type session.created announced is valid)."""
    fields = {k: from_schema(v, KNOWN) for k, v in KNOWN["properties"].items() if k != "type"}
    fields["model"] = st.just(MODEL_PLACEHOLDER)
    # About one in eight names a documented type outright: a switch, when not the created one (undetermined).
    types = KNOWN["properties"]["type"]["enum"]
    kind = st.sampled_from([TYPE_PLACEHOLDER] * 7 * len(types) + types)  # sampled_from keeps repeats
    drawn = st.fixed_dictionaries({"type": kind}, optional=fields)
    return drawn.map(without_contradictions)


#: One value of each JSON type (the types themselves, not the contract); `wrong_values` keeps those a rule rejects.
JSON_SAMPLES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, "", "x", [], ["x"], {}, {"x": 1})


def _update_is_valid(update: dict[str, Any]) -> bool:
    return bool(_contract().fast["session.update"].is_valid(update))


def wrong_values(field: str) -> list[Any]:
    """The samples the schema rejects for a session field, null left out (it may mean "not set")."""
    return [
        v
        for v in JSON_SAMPLES
        if v is not None and not _update_is_valid(event({field: v, "type": DEFAULT_SESSION_TYPE}, None))
    ]


@st.composite
def broken_session(draw: st.DrawFn) -> dict[str, Any]:
    """A valid patch with one documented field given a value of the wrong JSON type (not a field the
    server owns: what an update sets there may be ignored, so it proves nothing)."""
    session = draw(valid_session())
    field = draw(st.sampled_from(sorted(k for k in PATCH_FIELDS if k != "type" and k not in READ_ONLY)))
    session[field] = draw(st.sampled_from(wrong_values(field)))
    return session


@st.composite
def unlisted_session(draw: st.DrawFn) -> dict[str, Any]:
    """A valid patch plus a documented field with a well-typed value the documents do not list."""
    session = draw(valid_session())
    field = draw(st.sampled_from(sorted(k for k in PATCH_FIELDS if k not in ("type", "model"))))
    kinds = PATCH_FIELDS[field]["type"]
    schema = {"type": kinds, "items": PATCH_FIELDS[field].get("items", {"type": "string"})}
    if "object" in kinds:
        schema["additionalProperties"] = {"type": ["string", "number", "boolean"]}
    session[field] = draw(from_schema(schema))
    return without_contradictions(session)


#: The longest string we send: tens of KB, so that with the rest of an answer it stays far within a
#: 1 MiB frame (known-values.json bounds the strings it calls valid; longer ones are undetermined).
LONG_MAX = 40_000


@st.composite
def long_session(draw: st.DrawFn) -> dict[str, Any]:
    """A valid patch whose instructions are long (up to tens of KB, within any frame limit): undetermined."""
    session = draw(valid_session())
    unit = draw(texts(4).filter(bool))
    session["instructions"] = unit * draw(st.integers(1, LONG_MAX // len(unit)))
    return session


@st.composite
def null_session(draw: st.DrawFn) -> dict[str, Any]:
    """A valid patch with null for one optional field: undetermined (spec-notes, "null in a client event")."""
    session = draw(valid_session())
    session[draw(st.sampled_from(sorted(PATCH_FIELDS)))] = None
    return session


def event(session: Any, event_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "session.update"}
    if event_id is not None:
        out["event_id"] = event_id
    out["session"] = session
    return out


@functools.cache
def _session_update_operation() -> Any:
    import schemathesis  # imported when first drawn from (a tenth of a second): a smoke run never is

    schema = schemathesis.openapi.from_dict(read_json(SPEC_DIR / "openapi.json"))
    return schema[_contract().registry.event("session.update").page]["POST"]


def _body_text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else json.dumps(body)


@functools.cache
def _schemathesis_bodies(negative: bool) -> st.SearchStrategy[str]:
    from schemathesis import GenerationMode

    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    strategy: st.SearchStrategy[Any] = _session_update_operation().as_strategy(generation_mode=mode)
    return strategy.map(lambda case: _body_text(case.body))


COVERAGE_PER_CONNECTION = 5


def coverage_plans() -> list[Plan]:
    """Schemathesis' coverage phase: its deterministic boundary cases (positive and negative) for
    session.update, five to a connection, each connection opened by a valid update."""
    from schemathesis import GenerationMode
    from schemathesis.core import NOT_SET

    operation = _session_update_operation()
    schema = operation.schema
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation),
    )
    bodies = list(dict.fromkeys(_body_text(case.body) for case in cases if case.body is not NOT_SET))
    opening = json.dumps({"type": "session.update", "event_id": "cov-0", "session": {"type": "realtime"}})
    return [
        Plan(f"coverage #{i // COVERAGE_PER_CONNECTION + 1}", (opening, *bodies[i : i + COVERAGE_PER_CONNECTION]))
        for i in range(0, len(bodies), COVERAGE_PER_CONNECTION)
    ]


@functools.cache
def update_texts() -> st.SearchStrategy[Callable[[str | None], str]]:
    """One update, valid (most), invalid or undetermined, from both engines, built once.

    It draws a function of the event_id, so one strategy serves every position in a plan. Ours
    are written with and without escapes for every non-ASCII character.
    """

    def ours(session: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Callable[[str | None], str]]:
        return st.tuples(session, st.booleans()).map(
            lambda drawn: lambda event_id: as_text(event(drawn[0], event_id), drawn[1])
        )

    def theirs(negative: bool) -> st.SearchStrategy[Callable[[str | None], str]]:
        return _schemathesis_bodies(negative).map(lambda text: lambda event_id: text)

    unknown_field = st.builds(
        lambda s, k, v: {**s, k: v},
        valid_session(),
        st.sampled_from(["speed", "tracing", "max_output_tokens", "prompt"]),
        st.one_of(st.integers(0, 9), st.text(max_size=5)),
    )
    untyped = valid_session().map(lambda s: {k: v for k, v in s.items() if k != "type"})
    # Weighted by repetition: Schemathesis' draws cost several times ours, so they are one in ten.
    # Each repeat is a strategy of its own: one_of keeps a strategy once, however often it is given.
    return st.one_of(
        *[ours(valid_session()) for _ in range(8)],
        *[ours(broken_session()) for _ in range(2)],
        ours(unknown_field),
        ours(untyped),
        ours(unlisted_session()),
        ours(long_session()),
        ours(null_session()),
        theirs(negative=True),
        theirs(negative=False),
    )


@st.composite
def plans(draw: st.DrawFn, max_updates: int = 6) -> tuple[str, ...]:
    """One connection's updates, a mix. A list, so that shrinking can drop any update down to the one
    that fails (a plan of one update is the smallest)."""
    drawn = draw(st.lists(st.tuples(update_texts(), st.booleans()), min_size=1, max_size=max_updates))
    return tuple(make(f"gen-{i}" if i % 2 or keep else None) for i, (make, keep) in enumerate(drawn, 1))


# ------------------------------------------------------------------------------ single-fault probes


@functools.cache
def _contract() -> Contract:
    return load_contract()


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
        return [f"gpt://b1gprobefolder/{name}" for name in _contract().model_names]
    return []


def probes() -> list[tuple[str, str]]:
    """For every documented rule of session.update, otherwise valid updates that break exactly it.

    Like Schemathesis' coverage phase, but one fault per update, so that a server that rejects
    for another reason cannot hide the rule under test. Rules and values come from the schemas:
    each field's JSON type (one sample of every other type), each enum, const and pattern (near
    misses of its valid strings), each array's item type, each required field. Only updates the
    oracle calls invalid are kept. Returns (rule, update text) pairs.
    """
    update_schema = _contract().schemas["session.update.json"]
    patch = _contract().schemas["session-update-patch.json"]["properties"]
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
            fine = next(v for v in JSON_SAMPLES if _update_is_valid(put([v])))
            values += [[fine, v] for v in JSON_SAMPLES] + [[v] for v in JSON_SAMPLES]
        out += [(rule, put(v)) for v in values]
    kept: dict[str, str] = {}  # text -> rule, in order
    for rule, update in out:
        text = as_text(update)
        if text not in kept and classify(text, _contract()).kind == "invalid":
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


#: About one update in this many after the first of a connection is awaited alone (`waits`).
WAIT_ONE_IN = 8


def waits(key: str, count: int) -> frozenset[int]:
    """The updates (by index) after whose answer the client waits out the whole timeout.

    For about one in `WAIT_ONE_IN` of the updates after the first, the client waits out the
    timeout both before it and after it: it is then awaited alone, so every answer within its
    timeout lands in its window and is its own, and a second or late answer is attributed to it
    (mid-connection, not only at the end). Decided by a hash of `key` (seed and plan), so a seed
    always waits at the same places; the last update needs none (the connection is listened out).
    """
    out: set[int] = set()
    for index in range(1, count):
        if hashlib.sha256(f"{key}:{index}".encode()).digest()[0] % WAIT_ONE_IN == 0:
            out |= {index - 1, index}
    return frozenset(i for i in out if i < count - 1)
