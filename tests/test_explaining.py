"""Invalid server events are explained from jsonschema-rs' own errors (`checks.frames`): the findings
(requirement, path, message, in order) must be exactly what Python `jsonschema`'s explanation gives,
and both validators must agree on valid or invalid, on many generated broken events of both dialects.

The broken events are valid events of each server type (the mock's own sessions, an error) with one
to three members replaced by arbitrary JSON or removed, anywhere in the event.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from conformance.checks import check_event, frames
from conformance.checks.frames import LISTED_AT_ONE_PLACE, _explained, _explained_fast
from conformance.contract import DIALECTS, SPEC_DIR, Contract, FastValidator, load_contract
from conformance.contract.standins import blind, stood_in
from conformance.mock.session import default_models, initial_session
from tests.harness import at

SETTINGS = settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "realtime", "transcription", "session.updated", "error", "audio", "text", "server_vad"]),
    st.text(max_size=6),
)
ANY_JSON = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)
#: Strings as a JSON text's escapes make them: lone surrogates (`"\\ud800"`), a pair's halves apart, and
#: beside them the private-use code points that stand in for them in what jsonschema-rs is given.
ODD = st.sampled_from(["\ud800", "x\udbff", "\udc00", "\udfff\ud800", "ab\udc01", "\U000f0000", "\U000f07ff"])
ODD_TEXT = st.one_of(ODD, st.tuples(ODD, st.text(max_size=3)).map("".join))
ODD_JSON = st.recursive(
    st.one_of(LEAVES, ODD_TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=4), ODD_TEXT), inner, max_size=3)
    ),
    max_leaves=6,
)


def valid_events(contract: Contract) -> list[dict[str, Any]]:
    """One valid event of each documented server type (each session type for those carrying a session)."""
    model = default_models(contract)[0]
    sessions = [initial_session(model, contract, kind) for kind in ("realtime", "transcription")]
    error = {"type": "invalid_request_error", "code": "bad", "message": "no", "param": None, "event_id": "c1"}
    carrying = ("session.created", "session.updated")
    events = [{"type": t, "event_id": "e1", "session": s} for t in carrying for s in sessions]
    events.append({"type": "error", "event_id": "e2", "error": error})
    assert all(contract.fast[e["type"]].is_valid(e) for e in events), "the base events must be valid"
    return events


def paths(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member's path in a JSON value (the root's members included, the root itself not)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*where, key))
        found += paths(child, (*where, key))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any, remove: bool) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if not rest and remove and isinstance(copy, dict):
        del copy[head]
    else:
        copy[head] = replaced(copy[head], rest, new, remove)
    return copy


@st.composite
def broken_events(draw: st.DrawFn, dialect: str, values: st.SearchStrategy[Any] = ANY_JSON) -> tuple[str, Any]:
    """(its type, the broken event)."""
    contract = load_contract(None, dialect)
    event: Any = draw(st.sampled_from(valid_events(contract)))
    event_type = event["type"]
    for _ in range(draw(st.integers(1, 3))):
        where = [p for p in paths(event) if p != ("type",)]  # its type is how it was recognised
        if not where:
            break
        path = draw(st.sampled_from(where))
        event = replaced(event, path, draw(values), draw(st.booleans()))
    return event_type, event


def shown(violations: list[Any]) -> list[tuple[str, str, str]]:
    return [(v.requirement, v.path, v.message) for v in violations]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_invalid_events_are_explained_as_python_jsonschema_explains_them(dialect: str) -> None:
    contract = load_contract(None, dialect)
    fast_explained: list[bool] = []

    @given(broken_events(dialect))
    @SETTINGS
    def explained_alike(generated: tuple[str, Any]) -> None:
        event_type, event = generated
        judged_by = contract.judged_by[event_type]
        invalid = not contract.validators[judged_by.event].is_valid(event)
        assert contract.fast[judged_by.event].is_valid(event) != invalid
        if not invalid:
            return
        reference = shown(_explained(event, contract, judged_by, None))
        assert reference, "an invalid event is always explained"
        fast = _explained_fast(event, contract, judged_by, None)
        fast_explained.append(fast is not None)
        if fast is not None:
            assert shown(fast) == reference
        assert shown(check_event(event, contract, as_type=event_type)) == reference

    explained_alike()
    # the fast explanation must be what explains (Python jsonschema only where it cannot say it); the OpenAI
    # schemas wrap fields in anyOf, whose errors jsonschema-rs lists by branch: Python jsonschema says them
    assert fast_explained
    if dialect == "openai":
        assert not any(fast_explained)
    else:
        assert sum(fast_explained) > len(fast_explained) / 2, fast_explained.count(False)


def holds(value: Any, low: int, high: int) -> bool:
    """Whether a string of a JSON value, or a member name, holds a code point in [low, high]."""
    if isinstance(value, str):
        return any(low <= ord(c) <= high for c in value)
    if isinstance(value, dict):
        return any(holds(k, low, high) or holds(v, low, high) for k, v in value.items())
    return isinstance(value, list) and any(holds(v, low, high) for v in value)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_lone_surrogates_are_judged_by_jsonschema_rs_as_python_jsonschema_judges_them(
    dialect: str, reproducible_draws: None
) -> None:
    """jsonschema-rs takes no lone surrogate; it judges a copy with stand-ins (`contract.standins`), and must
    say what Python `jsonschema` says of the event itself: valid or not, and each finding; also where the
    event holds private-use code points too (the stand-ins are others)."""
    contract = load_contract(None, dialect)
    took: Counter[str] = Counter()

    @given(broken_events(dialect, ODD_JSON))
    @settings(SETTINGS, derandomize=True)  # the same events each run: what is counted below is not by chance
    def judged_alike(generated: tuple[str, Any]) -> None:
        event_type, event = generated
        judged_by = contract.judged_by[event_type]
        lone, stand_in = holds(event, 0xD800, 0xDFFF), holds(event, 0xF0000, 0xF07FF)
        invalid = not contract.validators[judged_by.event].is_valid(event)
        assert contract.fast[judged_by.event].is_valid(event) == (not invalid)
        took["valid" if not invalid else "invalid"] += lone
        took["both"] += lone and stand_in
        if not invalid:
            return
        reference = shown(_explained(event, contract, judged_by, None))
        fast = _explained_fast(event, contract, judged_by, None)
        if fast is not None:
            took["explained"] += lone
            assert shown(fast) == reference
        assert shown(check_event(event, contract, as_type=event_type)) == reference

    judged_alike()
    assert took["invalid"] and took["both"], took  # (valid ones are as often, where no one reads the string)
    assert took["explained"] or dialect == "openai", took  # its anyOf are explained by Python jsonschema


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_lone_surrogate_in_any_string_of_an_event_leaves_it_to_jsonschema_rs(dialect: str) -> None:
    """Each string of each valid event, and a pattern-checked one made invalid, with a lone surrogate added:
    jsonschema-rs judges it (where it reads that string: a pattern, a length, an enum) as Python
    `jsonschema` does, and explains it where it explains the same event without the surrogate."""
    contract = load_contract(None, dialect)
    for event in valid_events(contract):
        judged_by = contract.judged_by[event["type"]]
        for path in paths(event):
            value: Any = event
            for part in path:
                value = value[part]
            if not isinstance(value, str) or path == ("type",):  # its type is how it was recognised
                continue
            for twin, odd in (
                (replaced(event, path, v + "?", False), replaced(event, path, v + "\ud800", False))
                for v in (value, "\u00e9" + value + " ")
            ):
                assert contract.fast[judged_by.event].is_valid(odd) == contract.validators[judged_by.event].is_valid(
                    odd
                )
                explained = _explained_fast(odd, contract, judged_by, None)
                assert (explained is None) == (_explained_fast(twin, contract, judged_by, None) is None), path
                if explained is not None:
                    assert shown(explained) == shown(_explained(odd, contract, judged_by, None))


@st.composite
def crowded_events(draw: st.DrawFn, dialect: str) -> tuple[str, Any]:
    """A broken event (as above) whose arrays, and an object, are each replaced by many broken members:
    more at one place than are listed one by one, and a member breaking something else among them."""
    event_type, event = draw(broken_events(dialect))
    where = [p for p in paths(event) if p != ("type",)]
    # the arrays first: a crowd anywhere else is one error (a list where the schema wants something else), and
    # without them the draws held a crowd past what is listed only by chance (none, in one run of the suite)
    arrays = [p for p in where if isinstance(at(event, p), list)]
    for path in draw(st.lists(st.sampled_from(arrays or where), min_size=1, max_size=2)) if where else []:
        bad = draw(st.sampled_from([1, None, [1], True]))  # no string, no object: wrong in every typed array
        count = draw(st.integers(LISTED_AT_ONE_PLACE - 1, 4 * LISTED_AT_ONE_PLACE))
        crowd: list[Any] = [bad] * count
        crowd.insert(draw(st.integers(0, count)), draw(ANY_JSON))
        try:
            event = replaced(event, path, crowd, False)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement took the path away
    return event_type, event


def every_requirement(event: Any, contract: Contract, event_type: str) -> set[tuple[str, str]]:
    """What an explanation must name, from every one of Python `jsonschema`'s errors: each requirement,
    with each top-level field (`session.x`, `error.x`) an error is about (what the exchange checks read)."""
    judged_by = contract.judged_by[event_type]
    named: set[tuple[str, str]] = set()
    for error in contract.validators[judged_by.event].iter_errors(event):
        where = [str(p) for p in error.absolute_path]
        value: Any = event
        for part in error.absolute_path:
            value = value[part]
        members = [m for m in error.validator_value if m not in value] if error.validator == "required" else [None]
        for member in members:
            top = ".".join((where + ([member] if member else []))[:2])
            named.add((judged_by.requirement(error.schema, str(error.validator), member), top))
    return named


@pytest.mark.parametrize("dialect", DIALECTS)
def test_many_errors_at_one_place_are_counted_past_the_first_and_none_is_lost(
    dialect: str, reproducible_draws: None
) -> None:
    contract = load_contract(None, dialect)
    counted: list[int] = []

    @given(crowded_events(dialect))
    @settings(SETTINGS, derandomize=True)  # the same crowds each run: some must be past what is listed
    def explained_alike(generated: tuple[str, Any]) -> None:
        event_type, event = generated
        judged_by = contract.judged_by[event_type]
        if contract.fast[judged_by.event].is_valid(event):
            return
        reference = _explained(event, contract, judged_by, None)
        fast = _explained_fast(event, contract, judged_by, None)
        if fast is not None:
            assert shown(fast) == shown(reference)
        # every requirement, at every top-level field, of every error (counted ones included)
        named = {(v.requirement, ".".join(v.path.split(".")[:2])) for v in reference}
        assert named == every_requirement(event, contract, event_type)
        rests = [v for v in reference if " more like " in v.message]
        per_place = Counter(".".join("*" if p.isdigit() else p for p in v.path.split(".")) for v in reference)
        for rest in rests:
            count = int(rest.message.split(": ", 1)[1].split(" more like ")[0].replace(",", ""))
            assert per_place[rest.path] == LISTED_AT_ONE_PLACE + 1 and count > 0
            counted.append(count)
        assert all(n <= LISTED_AT_ONE_PLACE + 1 for n in per_place.values()), per_place

    explained_alike()
    # the OpenAI schemas wrap each array in an anyOf (an array or null): one error for the whole array
    assert counted or dialect == "openai", "no event had more errors at one place than are listed"


def test_each_missing_member_is_named_once() -> None:
    contract = load_contract()
    judged_by = contract.judged_by["error"]
    event = {"type": "error", "error": {}}
    for explained in (_explained(event, contract, judged_by, None), _explained_fast(event, contract, judged_by, None)):
        assert explained is not None
        assert [(v.requirement, v.path) for v in explained] == [
            ("ERR-EVENT-ID", "event_id"),
            ("ERR-ERROR-TYPE", "error.type"),
            ("ERR-MESSAGE", "error.message"),
        ]


def test_thirty_thousand_bad_items_are_explained_by_their_first_and_a_count() -> None:
    contract = load_contract()
    judged_by = contract.judged_by["session.updated"]
    session = {"type": "realtime", "tools": [1] * 30_000 + ["x"], "output_modalities": [2] * 15}
    event = {"type": "session.updated", "event_id": "e1", "session": session}
    given_lengths: list[int] = []
    errors = FastValidator.errors
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            FastValidator, "errors", lambda self, value: given_lengths.append(longest(value)) or errors(self, value)
        )
        explained = _explained_fast(event, contract, judged_by, None)
    assert explained is not None and given_lengths and max(given_lengths) <= frames.PIECE_ITEMS < 30_000
    assert shown(explained) == shown(_explained(event, contract, judged_by, None))
    tools = [v for v in explained if v.requirement == "RS-TOOLS-TYPE"]
    assert [v.path for v in tools] == [f"session.tools.{i}" for i in range(LISTED_AT_ONE_PLACE)] + ["session.tools.*"]
    assert tools[-1].message.startswith(f"session.tools.*: {30_001 - LISTED_AT_ONE_PLACE:,} more like session.tools.9")
    modalities = [v for v in explained if v.requirement == "RS-OUTPUT-MODALITIES-TYPE"]
    assert modalities[-1].message.startswith(f"session.output_modalities.*: {15 - LISTED_AT_ONE_PLACE} more like")


def longest(value: Any) -> int:
    """The most items of an array in a JSON value."""
    if isinstance(value, dict):
        return max(map(longest, value.values()), default=0)
    return max([len(value), *map(longest, value)]) if isinstance(value, list) else 0


@st.composite
def long_array_events(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid event whose arrays (and a member made one) are each a crowd of items: valid ones (the
    array's own), bad ones of one kind, and arbitrary JSON; then broken elsewhere as `broken_events` are."""
    event_type, event = draw(broken_events("yandex", st.just(None)).filter(lambda e: "session" in e[1]))
    session = event.get("session")
    if not isinstance(session, dict):
        return event_type, event
    names = [k for k, v in session.items() if isinstance(v, list)] + [draw(st.sampled_from([*session, "extra"]))]
    for name in names:
        own = session.get(name) if isinstance(session.get(name), list) and session.get(name) else [None]
        item = st.one_of(st.sampled_from(own), st.sampled_from([1, None, [1], True, "x"]), ANY_JSON)
        session[name] = draw(st.lists(item, min_size=LISTED_AT_ONE_PLACE + 1, max_size=4 * LISTED_AT_ONE_PLACE))
    return event_type, event


@pytest.mark.parametrize("pieces", [1, 3, LISTED_AT_ONE_PLACE])
def test_long_arrays_are_judged_in_pieces_and_explained_as_if_whole(
    pieces: int, monkeypatch: pytest.MonkeyPatch, reproducible_draws: None
) -> None:
    """An array longer than PIECE_ITEMS is given to jsonschema-rs a piece at a time (one call lists every
    error it is given, holding the GIL); with pieces of 1, 3 and 10 items, crowded events are explained
    exactly as Python `jsonschema` explains them, and no call is given an array longer than a piece."""
    monkeypatch.setattr(frames, "PIECE_ITEMS", pieces)
    contract = load_contract()
    given_lengths: list[int] = []
    errors = FastValidator.errors
    monkeypatch.setattr(
        FastValidator, "errors", lambda self, value: given_lengths.append(longest(value)) or errors(self, value)
    )
    split: list[bool] = []

    @given(long_array_events())
    @settings(SETTINGS, derandomize=True)
    def explained_alike(generated: tuple[str, Any]) -> None:
        event_type, event = generated
        judged_by = contract.judged_by[event_type]
        if contract.fast[judged_by.event].is_valid(event):
            return
        given_lengths.clear()
        fast = _explained_fast(event, contract, judged_by, None)
        if fast is not None:
            assert shown(fast) == shown(_explained(event, contract, judged_by, None))
            split.append(len(given_lengths) > 1)  # the event, then its long arrays' pieces

    explained_alike()
    assert sum(split) > len(split) / 4, (sum(split), len(split))


def test_an_array_that_breaks_a_nullable_any_of_is_one_short_violation() -> None:
    """The OpenAI schemas wrap fields in anyOf (the field, or null): 30,000 bad tools break that one anyOf.
    jsonschema (both) listed every branch's error of every item to say so (seconds, and 470 MB), and the
    message wrote the whole array; now one violation, its value described as others are."""
    contract = load_contract(None, "openai")
    judged_by = contract.judged_by["session.updated"]
    session = initial_session(default_models(contract)[0], contract, "realtime")
    event = {"type": "session.updated", "event_id": "e1", "session": {**session, "tools": [1] * 30_000}}
    explained = check_event(event, contract)
    assert [(v.requirement, v.path) for v in explained] == [("RS-TOOLS-TYPE", "session.tools")]
    assert explained[0].message.startswith("session.tools: [1, 1, 1") and len(explained[0].message) < 200
    assert not contract.explainers[judged_by.event].is_valid(event) and contract.explainers[judged_by.event].is_valid(
        {**event, "session": session}
    )


@pytest.mark.parametrize(
    "schema",
    [
        {"pattern": "[\\ud800-\\udbff]"},  # a range of lone surrogates, escaped as Python reads patterns
        {"pattern": "^a\\udc00"},
        {"pattern": "[^\\U000f0000]"},  # a stand-in, negated
        {"pattern": "[\U00100000-\U0010ffff]"},  # plane 16's, as they are
        {"enum": ["\U00050000"]},  # unassigned, as they are
        {"pattern": "[\u0100-\U0010ffff]"},  # a range across both
        {"patternProperties": {"\\p{L}": {}}},  # a pattern Python's parser cannot read
        {"const": "\U000f0001"},
        {"enum": ["x", "\ud800"]},
        {"properties": {"\udfff": {"type": "string"}}},
    ],
)
def test_a_schema_that_could_tell_a_lone_surrogate_from_its_stand_in_is_not_blind(schema: dict[str, Any]) -> None:
    assert not blind([{"type": "object"}, {"$defs": {"x": schema}}])


def test_the_contracts_are_blind_and_what_cannot_be_copied_is_not() -> None:
    """Blind: every pattern of both dialects' schemas, and these (classes, negations, ranges short of both)."""
    assert all(f.blind for d in DIALECTS for f in load_contract(None, d).fast.values())
    assert blind([{"pattern": "^(?![A-Za-z][A-Za-z0-9+.-]*://)\\S+$"}, {"pattern": "[\u0100-\ud7ff]\\w.\\D"}])
    copy = stood_in({"a\ud800": ["\udfff", 1, None], "b": "\U000f0000"})  # a stand-in held: not taken
    assert copy is not None and copy.value == {"a\U000f0001": ["\U000f0002", 1, None], "b": "\U000f0000"}
    assert copy.restored("/a\U000f0001/0") == "/a\ud800/0" and copy.restored("/b") == "/b"
    deep: Any = "\ud800"
    for _ in range(5000):
        deep = [deep]
    copied = stood_in(deep)
    assert copied is not None  # deeper than Python recurses: copied all the same
    inner = copied.value
    for _ in range(5000):
        assert isinstance(inner, list) and len(inner) == 1
        inner = inner[0]
    assert inner == "\U000f0000"
    private = "".join(chr(c) for c in range(0xF0000, 0x110000))
    spare = stood_in(["\ud800", private])  # every private-use code point held (a hostile helper): another
    assert spare is not None and spare.value[0] == "\U00040000"
    every = "".join(chr(c) for low, high in ((0x40000, 0xDFFFF), (0xF0000, 0x10FFFF)) for c in range(low, high + 1))
    assert stood_in(["\ud800", every]) is None  # none left to stand in (3 MB: past the default frame bound)


def test_a_ref_whose_pointer_is_escaped_is_not_split_where_it_might_read_another_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`#/$defs/a%20b` names the node `a b`; a node named `a%20b` beside it (found by a review helper) took
    the pieces' items when the pointer was read as written: its violations were lost. Such a `$ref` is
    judged whole, as Python `jsonschema` judges it."""
    spec = tmp_path / "spec"
    shutil.copytree(SPEC_DIR, spec)
    path = spec / "schemas" / "realtime-session.json"
    schema = json.loads(path.read_text())
    array = {"type": "array", "x-requirement": "RS-TOOLS-TYPE"}
    schema["$defs"] = {
        "a b": {**array, "items": {"type": "integer", "x-requirement": "RS-TOOLS-TYPE"}},
        "a%20b": {**array, "items": {"type": "string", "x-requirement": "RS-TOOLS-TYPE"}},
    }
    schema["properties"]["r"] = {"$ref": "#/$defs/a%20b"}
    path.write_text(json.dumps(schema))
    contract = load_contract(spec_dir=spec)
    monkeypatch.setattr(frames, "PIECE_ITEMS", 2)
    event = {"type": "session.updated", "event_id": 5, "session": {"type": "realtime", "r": ["a", "b", "c"]}}
    judged_by = contract.judged_by["session.updated"]
    reference = shown(_explained(event, contract, judged_by, None))  # a bad event_id too: explained fast
    assert [path for _, path, _ in reference] == ["event_id", "session.r.0", "session.r.1", "session.r.2"]
    assert shown(check_event(event, contract)) == reference
