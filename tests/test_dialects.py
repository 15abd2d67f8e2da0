"""Dialects (issue 17): the openai dialect's schemas come from the official SDK, and each dialect is data.

The sweep over ten seeds: RC_SEEDS=1-10 (default 1-3) for the seeded tests below.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.checks import Judgement, judge_all
from conformance.cli.main import main
from conformance.contract import DIALECTS, PATCH_SCHEMA, SPEC_DIR, load_contract, members, read_json, spec_file
from conformance.contract.diff import diff
from conformance.contract.oracle import Context, classify
from conformance.generate import scripted_plans
from conformance.mock import Fault, MockConfig, faults_of, serve_mock
from conformance.run.runner import RunLog, Target, run_plans
from conformance.verdict.results import evaluate
from conformance.wire.transport import Auth, ConnectFailed, Limits, open_session
from tests.conftest import FAST, LATE_S, run, seeds
from tests.fixtures import to_transcript

openai = pytest.importorskip("openai")
from conformance.contract import sdkschemas  # noqa: E402


def test_openai_schemas_do_not_drift_from_the_installed_sdk() -> None:
    """Regenerated in memory from `openai.types.realtime`, they equal the committed files."""
    assert sdkschemas.drift() == []


def test_drift_is_seen_when_a_committed_schema_is_edited(tmp_path: Any) -> None:
    folder = tmp_path / "openai"
    (folder / "schemas").mkdir(parents=True)
    for name in ("dialect.json", "requirements-map.json"):
        (folder / name).write_text(spec_file(name, "openai").read_text(encoding="utf-8"), encoding="utf-8")
    for name, document in sdkschemas.documents().items():
        (folder / "schemas" / name).write_text(sdkschemas.render(document), encoding="utf-8")
    assert sdkschemas.drift(folder) == []
    edited = json.loads((folder / "schemas" / "error.json").read_text(encoding="utf-8"))
    edited["required"] = ["type"]
    (folder / "schemas" / "error.json").write_text(sdkschemas.render(edited), encoding="utf-8")
    assert sdkschemas.drift(folder) == ["error.json"]


NULL_ONLY = [
    {"type": "null"},
    {"type": "null", "title": "None"},
    {"type": ["null"]},
    {"const": None},
    {"enum": [None], "description": "nothing"},
]


@pytest.mark.parametrize("null", NULL_ONLY, ids=lambda n: json.dumps(n))
def test_without_nulls_removes_every_form_of_a_null_branch_but_where_null_is_allowed(null: dict[str, Any]) -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string"}, null], "default": None},
            "b": {"anyOf": [{"type": "string"}, {"type": "integer"}, null]},
            "c": {"type": ["string", "null"], "default": None},
            "d": {"enum": ["x", None]},
            "e": {"anyOf": [{"type": "string"}, null]},
            "f": {"not": {"anyOf": [{"type": "string"}, null]}},
            "g": {"anyOf": [null]},
            "h": {"type": ["null"]},
        },
    }
    out = sdkschemas.without_nulls(schema, nullable={"e"})
    props = out["properties"]
    assert props["a"] == {"type": "string"}
    assert props["b"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert props["c"] == {"type": "string"} and props["d"] == {"enum": ["x"]}
    assert props["e"] == schema["properties"]["e"]  # null allowed there: kept
    assert props["f"] == schema["properties"]["f"]  # what `not` refuses is not what is accepted
    assert props["g"] == schema["properties"]["g"] and props["h"] == {"type": ["null"]}  # null is all they take
    assert sdkschemas.null_paths(schema) >= {"a", "b", "c", "d", "e", "g", "h"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_requirement_of_a_dialect_is_in_it_and_only_there(dialect: str) -> None:
    catalogue = read_json(spec_file("requirements.json", dialect))["requirements"]
    expected = [e["id"] for e in catalogue if dialect in e.get("dialects", DIALECTS)]
    assert load_contract(dialect=dialect).ids == tuple(expected)


def test_each_generated_node_names_a_requirement_of_its_dialect() -> None:
    ids = set(load_contract(dialect="openai").ids)
    named: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            value = node.get(sdkschemas.ANNOTATION)
            named.update([value] if isinstance(value, str) else (value or {}).values())
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for document in sdkschemas.documents().values():
        walk(document)
    assert named and named <= ids, named - ids


def _update(session: dict[str, Any]) -> str:
    return json.dumps({"type": "session.update", "session": session})


def test_openai_requires_session_type_yandex_leaves_it_undetermined() -> None:
    text = _update({"instructions": "Be brief."})
    assert classify(text, load_contract(dialect="openai"), Context()).kind == "invalid"
    assert classify(text, load_contract(dialect="yandex"), Context()).kind == "undetermined"


def test_the_sdk_types_judge_the_openai_update() -> None:
    """The SDK's own types say the guide's 44.1 kHz output is not a GA format: invalid under openai."""
    from openai.types.realtime import RealtimeSessionCreateRequest
    from pydantic import ValidationError

    session = {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": 44100}}}}
    with pytest.raises(ValidationError):
        RealtimeSessionCreateRequest.model_validate(session)
    assert classify(_update(session), load_contract(dialect="openai"), Context()).kind == "invalid"
    assert classify(_update(session), load_contract(dialect="yandex"), Context()).kind != "invalid"


def test_an_update_must_show_only_the_fields_its_session_type_documents() -> None:
    """openai: the SDK's transcription request has no instructions or tools; an update of that type setting
    them is undetermined, and what an accepting answer must show (`applied`) is the transcription fields
    alone, as for any unknown field. The same fields on a realtime update, and in yandex, must be shown."""
    from openai.types.realtime import RealtimeSessionCreateRequest, RealtimeTranscriptionSessionCreateRequest

    openai_contract = load_contract(dialect="openai")
    only_realtime = set(RealtimeSessionCreateRequest.model_fields) - set(
        RealtimeTranscriptionSessionCreateRequest.model_fields
    )
    assert {"instructions", "tools"} <= only_realtime
    assert not only_realtime & set(openai_contract.fields_of("transcription")) - openai_contract.server_owned
    assert only_realtime <= set(openai_contract.fields_of("realtime")) | openai_contract.server_owned
    fields = {"instructions": "Be brief.", "tools": [], "include": []}
    on_transcription = classify(
        _update({"type": "transcription", **fields}), openai_contract, Context(created_type="transcription")
    )
    assert (on_transcription.kind, on_transcription.applied) == ("undetermined", ("type", "include"))
    on_realtime = classify(_update({"type": "realtime", **fields}), openai_contract, Context())
    assert set(on_realtime.applied) == {"type", *fields}
    yandex = classify(_update({"type": "transcription", **fields}), load_contract(dialect="yandex"), Context())
    assert {"instructions", "tools"} <= set(yandex.applied)


def test_a_null_where_a_union_branch_requires_the_member_is_invalid_and_named_there() -> None:
    """An mcp tool requires server_label: null there cannot mean "not set". The reason names that member,
    not the other tool kind's `type` (the union's best match)."""
    update = _update({"type": "realtime", "tools": [{"type": "mcp", "server_label": None}]})
    verdict = classify(update, load_contract(dialect="openai"), Context())
    assert (verdict.kind, verdict.path) == ("invalid", "session.tools.0.server_label")


PCM = {"type": "audio/pcm", "rate": 24000}
TOOL = {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object", "x-own": 1}}


@pytest.mark.parametrize(
    ("session_type", "session", "unknown"),
    [
        # the SDK's transcription audio has an input only
        ("transcription", {"audio": {"input": {"format": PCM}, "output": {"voice": "marin"}}}, [("audio", "output")]),
        # a member no audio format of the SDK's has, and one the realtime output has
        (
            "realtime",
            {"audio": {"output": {"format": {**PCM, "bits": 16}, "voice": "marin"}}},
            [("audio", "output", "format", "bits")],
        ),
        # a member no tool kind has, in the second tool; the function's parameters are its own (untyped)
        ("realtime", {"tools": [TOOL, {**TOOL, "strict": True}]}, [("tools", 1, "strict")]),
        ("realtime", {"tools": [TOOL], "instructions": "x", "output_modalities": ["text"]}, []),
        # a map whose values are typed: a member no prompt variable's type has
        (
            "realtime",
            {"prompt": {"id": "p", "variables": {"city": {"type": "input_text", "text": "Paris", "x": 1}, "n": "v"}}},
            [("prompt", "variables", "city", "x")],
        ),
    ],
)
def test_an_accepting_answer_need_not_show_a_member_the_sdk_types_do_not_have(
    session_type: str, session: dict[str, Any], unknown: list[tuple[Any, ...]]
) -> None:
    """openai: its objects are the SDK's models, whose members are documented; a member they do not have is
    unknown, and a server may ignore it (spec-notes) while accepting the update. Every member of an object the
    documents leave untyped (a tool's parameters; in yandex, audio) is data an accepting answer shows."""
    update = _update({"type": session_type, **session})
    verdict = classify(update, load_contract(dialect="openai"), Context(created_type=session_type))
    assert verdict.kind != "invalid" and set(session) <= set(verdict.applied)
    assert sorted(verdict.undocumented, key=repr) == sorted(unknown, key=repr)
    yandex_contract = load_contract(dialect="yandex")
    yandex = classify(update, yandex_contract, Context(created_type=session_type))
    assert set(session) & set(yandex_contract.patch_properties) <= set(yandex.applied)
    assert yandex.undocumented == ()


#: Where a keyword holds subschemas: one (`not`), a map of them (`properties`), or a list (`anyOf`).
_ONE = {"additionalProperties", "items", "not", "if", "then", "else", "contains", "propertyNames", "additionalItems"}
_ONE |= {"unevaluatedProperties", "unevaluatedItems"}
_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_LIST = {"anyOf", "oneOf", "allOf", "prefixItems"}


def _keywords(contract: Any, doc: str, pointer: str) -> set[tuple[str, str, str]]:
    """Every (document, pointer, keyword) of the schema at `doc#pointer` and all it holds or refers to."""
    found: set[tuple[str, str, str]] = set()
    pending, seen = [(doc, pointer)], set()
    while pending:
        doc, pointer = pending.pop()
        if (doc, pointer) in seen:
            continue
        seen.add((doc, pointer))
        node: Any = contract.schemas[doc]
        for part in pointer.split("/")[1:]:
            node = node[int(part)] if isinstance(node, list) else node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, dict):
            continue
        found |= {(doc, pointer, key) for key in node if not (key == "$id" and pointer == "")}  # a root's own id
        if "$ref" in node:  # beside a $ref, only what documents no member (the walk reads the target alone)
            found |= {(doc, pointer, f"$ref beside {key}") for key in set(node) - members.INERT - {"$ref"}}
            file, _, target = node["$ref"].partition("#")
            if target and not target.startswith("/"):
                found.add((doc, pointer, "$ref to an anchor"))  # the walk follows JSON pointers only
            else:
                pending.append((file or doc, target))
        for key, value in node.items():
            if key in _ONE and isinstance(value, dict):
                pending.append((doc, f"{pointer}/{key}"))
            elif key in _MAP and isinstance(value, dict):
                pending += [(doc, f"{pointer}/{key}/{members._escaped(name)}") for name in value]
            elif key in _LIST | {"items"} and isinstance(value, list):
                found |= {(doc, pointer, "items as a list")} if key == "items" else set()  # the walk reads one schema
                pending += [(doc, f"{pointer}/{key}/{i}") for i in range(len(value))]
    return found


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_members_walk_models_every_keyword_of_the_schemas_it_walks(dialect: str) -> None:
    """`members` finds an update's undocumented members by a walk that knows some keywords (`WALKED`) and may
    pass others by (`INERT`); `fields_of` reads the patch's branches on `type` alone. A dialect whose schemas
    gain another keyword (an if/then/else below the root, `dependentSchemas`, ...) fails here, not in a verdict."""
    contract = load_contract(dialect=dialect)
    patch = contract.schemas[PATCH_SCHEMA]
    branches = {"if", "then", "else"} & set(patch)
    assert set(patch) <= members.INERT | {"$id", "properties", "additionalProperties"} | branches
    assert isinstance(patch.get("additionalProperties", False), bool)  # no typed extra fields: only `properties`
    if branches:  # one condition: a const session type; each branch only its own properties
        assert branches == {"if", "then", "else"}
        condition = {"properties": {"type": {"const": patch["if"]["properties"]["type"]["const"]}}}
        assert patch["if"] in (condition, condition | {"required": ["type"]})  # a session without a type: else's
        assert all(set(patch[b]) <= {"properties", "additionalProperties"} | members.INERT for b in ("then", "else"))
        assert all(isinstance(patch[b].get("additionalProperties", False), bool) for b in ("then", "else"))
    types = [None, patch["if"]["properties"]["type"]["const"]] if branches else [None]
    pointers = {pointer for kind in types for pointer in contract.fields_of(kind).values()}
    found = set().union(*(_keywords(contract, PATCH_SCHEMA, pointer) for pointer in pointers))
    assert {key for _, _, key in found} & members.WALKED, "the walk would read nothing"
    unmodelled = sorted(
        f"{doc}#{pointer}: {key}" for doc, pointer, key in found if key not in members.WALKED | members.INERT
    )
    assert unmodelled == []


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "type", "name", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=60, deadline=None)
@given(value=_JSON)
def test_a_field_whose_schema_names_no_member_is_not_walked_and_the_walk_would_find_nothing(
    dialect: str, value: Any
) -> None:
    """`undocumented` skips a field whose schema leads to no `properties` (every yandex field): the walk
    itself, asked anyway, finds nothing there, whatever the value."""
    contract = load_contract(dialect=dialect)
    pointers = {
        pointer for kind in (None, "realtime", "transcription") for pointer in contract.fields_of(kind).values()
    }
    for pointer in pointers:
        if not members._types_members(contract, PATCH_SCHEMA, pointer):
            assert members.undocumented(value, contract, PATCH_SCHEMA, pointer) == ()
            assert not members._walk(value, contract, PATCH_SCHEMA, pointer, 0)
    assert dialect == "yandex" or any(members._types_members(contract, PATCH_SCHEMA, p) for p in pointers)


def test_the_keyword_guard_sees_what_the_walk_does_not_model() -> None:
    """The guard above can fail: a schema with an unmodelled keyword, or a $ref beside a typing one, is named."""
    contract = load_contract()
    schemas = dict(contract.schemas)
    schemas["x.json"] = {
        "properties": {
            "a": {"if": {"type": "object"}, "then": {"properties": {"b": {}}}},
            "c": {"$ref": "#/$defs/d", "properties": {"e": {}}},
            "f": {"dependentSchemas": {"g": {"prefixItems": [{}]}}},
            "h": {"items": [{"$ref": "#anchored"}]},
            "i": {"anyOf": [{"type": "string"}, {"$ref": "y.json#/$defs/j"}]},
        },
        "$defs": {"d": {"type": "object", "$id": "nested.json"}},
    }
    schemas["y.json"] = {"$id": "y.json", "$defs": {"j": {"type": "object", "propertyNames": {"pattern": "^a"}}}}
    found = _keywords(SimpleNamespace(schemas=schemas), "x.json", "")
    keys = {key for _, _, key in found} - members.WALKED - members.INERT
    assert {"if", "then", "$ref beside properties", "dependentSchemas", "prefixItems"} <= keys
    assert {"items as a list", "$ref to an anchor", "propertyNames", "$id"} <= keys
    assert ("y.json", "/$defs/j", "propertyNames") in found and ("y.json", "", "$id") not in found


def test_model_ids_are_names_in_openai_and_uris_in_yandex() -> None:
    openai_contract, yandex = load_contract(dialect="openai"), load_contract(dialect="yandex")
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_1"}
    named = {"type": "session.updated", "event_id": "e1", "session": session | {"model": "gpt-realtime"}}
    uri = {
        "type": "session.updated",
        "event_id": "e1",
        "session": session | {"model": "gpt://f/speech-realtime-250923"},
    }
    assert openai_contract.fast["session.updated"].is_valid(named)
    assert not openai_contract.fast["session.updated"].is_valid(uri)
    assert yandex.fast["session.updated"].is_valid(uri)
    assert not yandex.fast["session.updated"].is_valid(named)
    assert openai_contract.model_names == tuple(read_json(spec_file("dialect.json", "openai"))["model_names"])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_model_names_are_data_the_model_rule_is_built_from(dialect: str, tmp_path: Path) -> None:
    """dialect.json's `model_names` are the supported names (the yandex pattern is built from them, not
    read back out of it), and `model_id` the form of a model ID; an edited copy of the spec changes both."""
    info = read_json(spec_file("dialect.json", dialect))
    contract = load_contract(None, dialect)
    assert contract.model_names == tuple(info["model_names"]) != ()
    spec = tmp_path / "spec"
    shutil.copytree(SPEC_DIR, spec)
    edited = spec_file("dialect.json", dialect, spec)
    edited.write_text(json.dumps(info | {"model_names": ["speech-realtime-991231"]}), encoding="utf-8")
    other = load_contract(None, dialect, spec)
    assert other.model_names == ("speech-realtime-991231",)

    def shown(model: str, judged: Any) -> bool:
        event = {"type": "session.updated", "event_id": "e1", "session": {"type": "realtime", "model": model}}
        return bool(judged.fast["session.updated"].is_valid(event))

    new, old = other.model_id("b1gfolder"), contract.model_id("b1gfolder")
    assert new.endswith("speech-realtime-991231") and shown(new, other) and shown(old, contract)
    # yandex names the supported models in its model rule; openai takes any model name
    assert shown(old, other) is (dialect == "openai")


LABELS = ("realtime.session", "realtime.transcription_session")


@pytest.mark.parametrize("kind", ["realtime", "transcription"])
@pytest.mark.parametrize("label", LABELS)
def test_openai_types_the_servers_own_session_fields_and_fails_neither_label(kind: str, label: str) -> None:
    """`id`, `object` (and `expires_at`) come from the SDK's session *response* types; `object` is the
    kind's label, which may change with session.type (spec-notes), so either label passes either kind."""
    contract = load_contract(None, "openai")
    session = {"type": kind, "object": label, "id": "sess_1", "expires_at": 1756324625}
    for event in ("session.created", "session.updated"):
        assert list(contract.validators[event].iter_errors({"type": event, "event_id": "e1", "session": session})) == []
        for field, wrong in (("object", 1), ("id", 42)):
            assert not contract.fast[event].is_valid(
                {"type": event, "event_id": "e1", "session": {**session, field: wrong}}
            )
    judged = contract.judged_by["session.updated"]
    assert [judged.at_path(f"session.{f}", "type") for f in ("id", "object")] == ["RS-ID-TYPE", "RS-OBJECT-TYPE"]


def test_the_generated_session_has_every_server_field_of_the_sdks_response_types() -> None:
    import openai.types.realtime as sdk

    properties = load_contract(None, "openai").schemas["realtime-session.json"]["properties"]
    for kind, response in sdkschemas.SESSION_RESPONSES.items():
        request = getattr(sdk, sdkschemas.SESSION_KINDS[kind]).model_fields
        server_own = set(getattr(sdk, response).model_fields) - set(request)
        assert server_own and all(properties[name].get("readOnly") for name in server_own), server_own


def test_an_expiry_that_changes_is_no_patch_violation_under_openai() -> None:
    """spec-notes: server-managed fields such as an expiry time may change (the patch rule leaves the
    session's `readOnly` fields to the server); a changed instruction the update did not set still fails."""

    def transcript(after: dict[str, Any]) -> Any:
        session = {"type": "realtime", "object": "realtime.session", "id": "sess_1", "instructions": "A"}
        patch = {"type": "realtime", "output_modalities": ["text"]}
        frames = [
            {"direction": "server", "time": 0.01, "json": {"type": "session.created", "event_id": "s0",
                                                         "session": session | {"expires_at": 100}}},
            {"direction": "client", "time": 0.02, "json": {"type": "session.update", "event_id": "c1",
                                                         "session": patch}},
            {"direction": "server", "time": 0.03, "json": {"type": "session.updated", "event_id": "s1",
                                                         "session": session | patch | after}},
        ]  # fmt: skip
        return to_transcript({"timeout_s": 1.0, "frames": frames})

    contract = load_contract(None, "openai")
    assert judge_all([transcript({"expires_at": 200})], contract).violations == ()
    changed = judge_all([transcript({"expires_at": 200, "instructions": "B"})], contract).violations
    assert {v.requirement for v in changed} == {"EX-PATCH-KEEPS-UNSET"}


@pytest.mark.parametrize("dialect", ["yandex", "openai"])
@pytest.mark.parametrize("field", ["object", "id"])
def test_a_server_label_or_id_that_changes_without_a_type_switch_fails_in_each_dialect(
    dialect: str, field: str
) -> None:
    """Only server-managed fields (dialect.json `server_managed`: openai's expiry) are left to the server;
    `object` changes only with a type switch and the session id never (spec-notes, patch semantics)."""
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_1", "instructions": "A"}
    frames = [
        {"direction": "server", "time": 0.01, "json": {"type": "session.created", "event_id": "s0",
                                                     "session": session}},
        {"direction": "client", "time": 0.02, "json": {"type": "session.update", "event_id": "c1",
                                                     "session": {"type": "realtime", "instructions": "B"}}},
        {"direction": "server", "time": 0.03, "json": {"type": "session.updated", "event_id": "s1",
                                                     "session": session | {"instructions": "B", field: "changed"}}},
    ]  # fmt: skip
    contract = load_contract(None, dialect)
    assert field not in contract.server_managed
    violations = judge_all([to_transcript({"timeout_s": 1.0, "frames": frames})], contract).violations
    assert {v.requirement for v in violations} == {
        "EX-SESSION-ID-STABLE" if field == "id" else "EX-PATCH-KEEPS-UNSET"
    }, violations


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        load_contract(dialect="klingon")


# --- the mock speaks either dialect, with the same faults ------------------------------------------


def _scripted_log(dialect: str, faults: tuple[Fault, ...] = (), limits: Limits = FAST) -> RunLog:
    async def scenario() -> RunLog:
        async with serve_mock(MockConfig(faults=faults, late_s=LATE_S, dialect=dialect)) as url:
            return await run_plans(scripted_plans(dialect), Target(url, limits=limits, settle_s=0.05))

    return run(scenario())


def _scripted(dialect: str, faults: tuple[Fault, ...] = ()) -> Judgement:
    log = _scripted_log(dialect, faults)
    assert log.failure is None
    return judge_all(log.transcripts, load_contract(dialect=dialect))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_clean_mock_passes_every_requirement_of_its_dialect(dialect: str) -> None:
    results = evaluate(load_contract(dialect=dialect), _scripted(dialect))
    assert [r.requirement.id for r in results if r.status == "failed"] == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_requirement_of_a_dialect_has_a_fault_that_trips_it_there(dialect: str) -> None:
    tripped = {rid for fault in faults_of(dialect) for rid in fault.trips}
    assert tripped == set(load_contract(dialect=dialect).ids)


#: Each dialect's faults as the mock commits them there (a fault of a field one dialect has is in that one).
DIALECT_FAULTS = [(fault, dialect) for dialect in DIALECTS for fault in faults_of(dialect)]


@pytest.mark.parametrize(("fault", "dialect"), DIALECT_FAULTS, ids=[f"{f.name}-{d}" for f, d in DIALECT_FAULTS])
def test_every_fault_is_caught_with_exactly_its_requirements_in_each_dialect(fault: Fault, dialect: str) -> None:
    """No fault goes unseen in any dialect: it trips exactly its requirements (`may_trip` is the
    documented second violation of the same misbehaviour: deaf after an error also leaves an invalid
    update unanswered, and openai's scripted exchanges hold one more invalid update, the guide's 44.1 kHz
    audio that the SDK types refuse), or the run ends with its outcome (a refused or hanging handshake)."""
    assert bool(fault.trips) != bool(fault.outcome), f"{fault.name} under {dialect}: trips nothing, or both"
    if fault.outcome:
        log = _scripted_log(dialect, (fault,), Limits(connect_s=0.3))
        assert isinstance(log.failure, ConnectFailed) and log.failure.kind == fault.outcome, log.failure
        return
    judgement = _scripted(dialect, (fault,))
    found = {v.requirement for v in judgement.violations}
    assert set(fault.trips) <= found <= set(fault.trips) | set(fault.may_trip), judgement.violations


@pytest.mark.parametrize("dialect", DIALECTS)
def test_list_faults_names_what_catches_each_fault_in_the_dialect(dialect: str, capsys: Any) -> None:
    assert main(["mock", "--list-faults", "--dialect", dialect]) == 0
    lines = capsys.readouterr().out.splitlines()
    trips = [line.split("trips: ", 1)[1] for line in lines if "trips: " in line]
    assert len(trips) == len(faults_of(dialect))
    for fault, shown in zip(faults_of(dialect), trips, strict=True):
        expected = list(fault.trips) or [f"the run ends with {fault.outcome}"]
        assert fault.trips or fault.outcome, fault.name
        assert all(item in shown for item in expected) and not shown.endswith("with )"), (fault.name, shown)


def test_a_fault_of_a_field_one_dialect_has_is_a_usage_error_in_another(capsys: Any) -> None:
    elsewhere = [(f, d) for f in {f for f, _ in DIALECT_FAULTS if f.dialects} for d in DIALECTS if d not in f.dialects]
    assert elsewhere  # openai's own fields (the expiry, the GA fields the SDK types) have faults of their own
    for fault, dialect in elsewhere:
        assert main(["mock", "--fault", fault.name, "--dialect", dialect]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert fault.name in line and all(d in line for d in fault.dialects), line


def test_openai_mock_answers_a_missing_session_type_like_ga() -> None:
    async def scenario() -> dict[str, Any]:
        async with serve_mock(MockConfig(dialect="openai")) as url:
            session = await open_session(url, Auth(), FAST)
            assert not isinstance(session, ConnectFailed)
            await session.receive(2.0)
            await session.send(
                json.dumps({"type": "session.update", "event_id": "c1", "session": {"instructions": "x"}})
            )
            frame = await session.receive(2.0)
            await session.close()
            return dict(json.loads(frame.text))  # type: ignore[union-attr]

    error = run(scenario())["error"]
    missing = read_json(spec_file("dialect.json", "openai"))["missing_type_error"]
    assert {k: error[k] for k in ("type", "code", "param")} == missing
    assert error["event_id"] == "c1"


def test_openai_mock_creates_a_transcription_session_on_the_intent_query() -> None:
    async def scenario() -> dict[str, Any]:
        async with serve_mock(MockConfig(dialect="openai")) as url:
            session = await open_session(url + "?intent=transcription", Auth(), FAST)
            assert not isinstance(session, ConnectFailed)
            frame = await session.receive(2.0)
            await session.close()
            return dict(json.loads(frame.text))  # type: ignore[union-attr]

    created = run(scenario())
    assert created["session"]["type"] == "transcription"
    assert load_contract(dialect="openai").fast["session.created"].is_valid(created)


# --- the command line: run, verify, requirements and diff name the dialect ---------------------------

#: Runs on the embedded mock, at its own answer timeout (1 s): it answers in this process, so its answers also
#: wait out this process' pauses, which a loaded CI machine stretches (0.5 s failed a conforming mock there).
QUICK = ["--no-html", "--shrink-budget-s", "0"]


def test_an_openai_certificate_names_its_dialect_and_verify_rejudges_with_it(tmp_path: Path) -> None:
    """The mock in the openai dialect announces a model name, which the yandex contract calls
    malformed: verify says VERIFIED only because it re-judges with the bundle's dialect."""
    report = tmp_path / "reports"
    args = ["run", "--dialect", "openai", "--profile", "certify", "--connections", "6", "--seed", "3", *QUICK]
    assert main([*args, "--report-dir", str(report)]) == 0
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    manifest = json.loads((report / "certificate" / "manifest.json").read_text(encoding="utf-8"))
    assert summary["spec"]["dialect"] == manifest["settings"]["dialect"] == "openai"
    assert 'name="realtime-conformance.dialect" value="openai"' in (report / "junit.xml").read_text(encoding="utf-8")
    assert main(["verify", str(report / "certificate.tar.gz"), "--allow-unsigned"]) == 0
    transcripts = str(report / "certificate" / "transcripts" / "all.jsonl")
    assert main(["validate", transcripts, "--dialect", "openai"]) == 0
    assert main(["validate", transcripts, "--dialect", "yandex"]) == 1


def test_diff_lists_the_differences_as_a_table_and_as_json_with_a_ci_exit_code(capsys: Any) -> None:
    assert main(["diff", "yandex", "openai", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    expected = diff(load_contract(dialect="yandex"), load_contract(dialect="openai"))
    assert [d["where"] for d in doc["differences"]] == [d.where for d in expected]
    assert doc["breaking"] == sum(d.breaking for d in expected) > 0
    kinds = {d["kind"] for d in doc["differences"]}
    assert {"field added", "field removed", "type changed", "required changed", "known values changed"} <= kinds
    assert {"requirement added", "requirement removed"} <= kinds
    wheres = {d["where"] for d in doc["differences"]}
    assert {"session.update session.type", "RS-MODEL-FORMAT", "RS-MODEL-NAME"} <= wheres
    assert "session.update session.audio.output.format.rate" in wheres
    assert main(["diff", "yandex", "openai"]) == 1
    table = capsys.readouterr().out
    assert all(d.where in table for d in expected)
    assert main(["diff", "openai", "openai"]) == 0
    assert "0 differences" in capsys.readouterr().out


def test_a_dialect_diffs_with_itself_to_nothing() -> None:
    for dialect in DIALECTS:
        assert diff(load_contract(dialect=dialect), load_contract(dialect=dialect)) == []


def test_requirements_shows_each_source_per_dialect(capsys: Any) -> None:
    assert main(["requirements", "--dialect", "openai", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dialect"] == "openai"
    by_id = {r["id"]: r for r in doc["requirements"]}
    assert set(by_id) == set(load_contract(dialect="openai").ids)
    catalogue = {e["id"]: e for e in read_json(spec_file("requirements.json"))["requirements"]}
    for rid, entry in by_id.items():
        dialects = catalogue[rid].get("dialects", DIALECTS)
        assert set(entry["sources"]) == set(dialects)
        for dialect, source in entry["sources"].items():
            assert source["quote"] == catalogue[rid].get("sources", {}).get(dialect, catalogue[rid]["source"])["quote"]
    assert main(["requirements", "--dialect", "yandex"]) == 0
    assert "RS-MODEL-FORMAT" in capsys.readouterr().out


@pytest.mark.parametrize("seed", seeds())
def test_the_openai_mock_is_conformant_under_its_dialect_on_generated_exchanges(seed: int, tmp_path: Path) -> None:
    """RC_SEEDS=1-10 sweeps ten seeds (default 1-3)."""
    args = ["run", "--dialect", "openai", "--profile", "full", "--connections", "8", "--seed", str(seed), *QUICK]
    assert main([*args, "--report-dir", str(tmp_path)]) == 0


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_pytest_plugin_runs_one_item_per_requirement_of_its_dialect(dialect: str, tmp_path: Path) -> None:
    from tests.test_pytest_plugin import suite

    done = suite(tmp_path, "--rc-dialect", dialect, "--rc-report-dir", str(tmp_path / "r"), "-n", "0")
    assert done.returncode == 0, done.stdout[-2000:]
    assert f"{len(load_contract(dialect=dialect).ids)} passed" in done.stdout
    summary = json.loads((tmp_path / "r" / "summary.json").read_text(encoding="utf-8"))
    assert summary["spec"]["dialect"] == dialect


def test_the_markdown_summary_and_the_badge_name_the_dialect(tmp_path: Path) -> None:
    assert main(["run", "--dialect", "openai", *QUICK, "--report-dir", str(tmp_path)]) == 0
    assert "dialect `openai`" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "realtime conformance (openai)" in (tmp_path / "badge.svg").read_text(encoding="utf-8")
