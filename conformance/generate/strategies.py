"""Hypothesis strategies of updates: valid patches (from the documents' known values), and ones broken,
unlisted, long or null in one field; `plans` composes them into one connection's updates.

Each is built from the run's contract (its dialect and model names: `fields`), once per contract;
without one, the default dialect's.

Generators only propose; every update is classified by the oracle when it is judged, so a
generator that makes a mistake costs coverage, never a false verdict. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st

from conformance.contract import Contract, load_contract
from conformance.contract.oracle import DEFAULT_SESSION_TYPE, TYPE_PLACEHOLDER, contradicting
from conformance.generate import fields
from conformance.generate.openapi import schemathesis_bodies


def as_text(update: object, ascii_only: bool = True) -> str:
    return update if isinstance(update, str) else json.dumps(update, ensure_ascii=ascii_only)


def default_contract() -> Contract:
    """The default dialect's contract (load_contract keeps it once), for callers that name none."""
    return load_contract()


def contract_of(contract: Contract | None) -> Contract:
    return contract if contract is not None else default_contract()


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
    if "anyOf" in schema:
        return st.one_of(*(from_schema(branch, root) for branch in schema["anyOf"]))
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
    if kind is None and not {"properties", "items", "pattern", "not", "allOf", "oneOf"} & set(schema):
        return ANY_JSON  # no constraint on the value (the SDK's untyped `parameters`, `metadata`)
    raise ValueError(f"known-values.json uses a schema this generator does not know: {schema}")


#: Any small JSON value (for a schema that constrains none).
ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def without_contradictions(session: dict[str, Any], contract: Contract | None = None) -> dict[str, Any]:
    """Drop one side of every alias pair (spec/aliases.json) that the patch sets to two different values."""
    found = contradicting(session, contract_of(contract))
    for path in found[::2]:  # (one side, the other side) of each pair
        *parents, last = path.split(".")
        node: Any = session
        for part in parents:
            node = node[part]
        del node[last]
    return session


@functools.cache
def valid_session(contract: Contract | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """A patch whose every field has a value the dialect's documents say is accepted; `type` is the
    placeholder for the type the target announced (only the type session.created announced is valid),
    `model` the one for its model, where the dialect lets an update set it (`fields.model_values`). Every
    patch sets `type` (OpenAI GA requires it; yandex's patch may leave it out: `untyped` does)."""
    contract = contract_of(contract)
    known = fields.known(contract)
    drawn_fields = {k: from_schema(v, known) for k, v in known["properties"].items() if k != "type"}
    models = fields.model_values(contract)
    if models:
        drawn_fields["model"] = st.sampled_from(models)
    # About one in eight names a documented type outright: a switch, when not the created one (undetermined).
    types = known["properties"]["type"]["enum"]
    kind = st.sampled_from([TYPE_PLACEHOLDER] * 7 * len(types) + types)  # sampled_from keeps repeats
    drawn = st.fixed_dictionaries({"type": kind}, optional=drawn_fields)
    return drawn.map(lambda session: without_contradictions(session, contract))


#: One value of each JSON type (the types themselves, not the contract); `wrong_values` keeps those a rule rejects.
JSON_SAMPLES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, "", "x", [], ["x"], {}, {"x": 1})


def update_is_valid(update: dict[str, Any], contract: Contract | None = None) -> bool:
    return bool(contract_of(contract).fast["session.update"].is_valid(update))


@functools.cache
def wrong_values(field: str, contract: Contract | None = None) -> list[Any]:
    """The samples the schema rejects for a session field, null left out (it may mean "not set")."""
    contract = contract_of(contract)
    updates = [(v, event({field: v, "type": DEFAULT_SESSION_TYPE}, None)) for v in JSON_SAMPLES if v is not None]
    return [v for v, u in updates if not update_is_valid(u, contract) and not fields.coercible(u, contract)]


@st.composite
def broken_session(draw: st.DrawFn, contract: Contract | None = None) -> dict[str, Any]:
    """A valid patch with one documented field given a value of the wrong JSON type (not a field the
    server owns: what an update sets there may be ignored, so it proves nothing)."""
    contract = contract_of(contract)
    session = draw(valid_session(contract))
    documented = fields.session_fields(contract)
    breakable = [k for k in documented if k != "type" and k not in contract.read_only and wrong_values(k, contract)]
    field = draw(st.sampled_from(sorted(breakable)))
    session[field] = draw(st.sampled_from(wrong_values(field, contract)))
    return session


def well_typed(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema of values of a field's documented JSON type, not only the listed ones: its `type`
    with loose items and members where it gives one (yandex), else the field's own typing (openai's
    SDK-derived `anyOf`s), null left out (null may mean "not set": `null_session`)."""
    kinds = schema.get("type")
    if kinds is None:
        return {"anyOf": [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]}
    loose = {"type": kinds, "items": schema.get("items", {"type": "string"})}
    if "object" in kinds:
        loose["additionalProperties"] = {"type": ["string", "number", "boolean"]}
    return loose


@st.composite
def unlisted_session(draw: st.DrawFn, contract: Contract | None = None) -> dict[str, Any]:
    """A valid patch plus a documented field with a well-typed value the documents do not list."""
    contract = contract_of(contract)
    session = draw(valid_session(contract))
    documented = fields.session_fields(contract)
    field = draw(st.sampled_from(sorted(k for k in documented if k not in ("type", "model"))))
    session[field] = draw(from_schema(well_typed(documented[field])))
    return without_contradictions(session, contract)


#: The longest string we send: tens of KB, so that with the rest of an answer it stays far within a
#: 1 MiB frame (known-values.json bounds the strings it calls valid; longer ones are undetermined).
LONG_MAX = 40_000


@st.composite
def long_session(draw: st.DrawFn, contract: Contract | None = None) -> dict[str, Any]:
    """A valid patch whose instructions are long (up to tens of KB, within any frame limit): undetermined."""
    session = draw(valid_session(contract_of(contract)))
    unit = draw(texts(4).filter(bool))
    session["instructions"] = unit * draw(st.integers(1, LONG_MAX // len(unit)))
    return session


@st.composite
def null_session(draw: st.DrawFn, contract: Contract | None = None) -> dict[str, Any]:
    """A valid patch with null for one optional field: undetermined (spec-notes, "null in a client event")."""
    contract = contract_of(contract)
    session = draw(valid_session(contract))
    optional = set(fields.session_fields(contract)) - set(fields.patch_required(contract))
    session[draw(st.sampled_from(sorted(optional)))] = None
    return session


def event(session: Any, event_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "session.update"}
    if event_id is not None:
        out["event_id"] = event_id
    out["session"] = session
    return out


@functools.cache
def update_texts(contract: Contract | None = None) -> st.SearchStrategy[Callable[[str | None], str]]:
    """One update, valid (most), invalid or undetermined, from both engines, built once.

    It draws a function of the event_id, so one strategy serves every position in a plan. Ours
    are written with and without escapes for every non-ASCII character.
    """

    def ours(session: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Callable[[str | None], str]]:
        return st.tuples(session, st.booleans()).map(
            lambda drawn: lambda event_id: as_text(event(drawn[0], event_id), drawn[1])
        )

    contract = contract_of(contract)

    def theirs(negative: bool) -> st.SearchStrategy[Callable[[str | None], str]]:
        return schemathesis_bodies(negative, contract).map(lambda text: lambda event_id: text)

    unknown_field = st.builds(
        lambda s, k, v: {**s, k: v},
        valid_session(contract),
        st.sampled_from(fields.unknown_names(contract)),
        st.one_of(st.integers(0, 9), st.text(max_size=5)),
    )
    # Without the session type: undetermined (yandex, a patch) or invalid (openai: GA requires it).
    untyped = valid_session(contract).map(lambda s: {k: v for k, v in s.items() if k != "type"})
    # Weighted by repetition: Schemathesis' draws cost several times ours, so they are one in ten.
    # Each repeat is a strategy of its own: one_of keeps a strategy once, however often it is given.
    return st.one_of(
        *[ours(valid_session(contract)) for _ in range(8)],
        *[ours(broken_session(contract)) for _ in range(2)],
        ours(unknown_field),
        ours(untyped),
        ours(unlisted_session(contract)),
        ours(long_session(contract)),
        ours(null_session(contract)),
        theirs(negative=True),
        theirs(negative=False),
    )


@st.composite
def plans(draw: st.DrawFn, max_updates: int = 6, contract: Contract | None = None) -> tuple[str, ...]:
    """One connection's updates, a mix. A list, so that shrinking can drop any update down to the one
    that fails (a plan of one update is the smallest)."""
    texts = update_texts(contract_of(contract))
    drawn = draw(st.lists(st.tuples(texts, st.booleans()), min_size=1, max_size=max_updates))
    return tuple(make(f"gen-{i}" if i % 2 or keep else None) for i, (make, keep) in enumerate(drawn, 1))
