"""Generation follows the run's dialect (issue 17): every update is drawn from the contract the run
speaks, so the openai dialect's own rules are sent and judged, and nothing yandex-only is called valid.

The seeded tests sweep ten seeds with RC_SEEDS=1-10 (default 1-3).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from conformance import generate
from conformance.contract import DEFAULT_DIALECT, DIALECTS, Contract, load_contract, read_json, spec_file
from conformance.contract.oracle import TYPE_PLACEHOLDER, Context, announced_type, classify, session_types
from conformance.generate import fields
from conformance.generate.corpus import corpus_key, generated_plans
from conformance.generate.plan import MODEL_PLACEHOLDER, Plan
from conformance.run.connection import run_connection
from conformance.run.placeholders import filled, with_type
from conformance.run.runner import Target
from conformance.transcript import Transcript, iter_jsonl
from conformance.wire.transport import Auth
from tests.harness import FAST, ROOT, at, run_cli, seeds, serving

QUICK = ["--timeout", "1", "--no-html", "--shrink-budget-s", "0"]
MODEL = "announced-by-the-target"
CATALOGUE = read_json(ROOT / "conformance" / "spec" / "requirements.json")["requirements"]


def contract(dialect: str, names: tuple[str, ...] = ()) -> Contract:
    return load_contract(names or None, dialect)


def as_sent(text: str, created: str = "realtime", model: str = MODEL) -> str:
    """An update as the runner sends it on a session created as `created` announcing `model`."""
    return filled(text, model, created)[0]


def corpus_updates(dialect: str, seed: int, count: int = 30, names: tuple[str, ...] = ()) -> Iterator[str]:
    """Every update of a small full-profile run's plans: the scripted ones and the seed's corpus."""
    for plan in (*generate.scripted_plans(dialect), *generated_plans(seed, count, dialect, names)):
        yield from plan.updates


def session_of(text: str) -> dict[str, Any]:
    try:
        update = json.loads(text)
    except ValueError:
        return {}
    session = update.get("session") if isinstance(update, dict) else None
    return session if isinstance(session, dict) else {}


def typed_fields(dialect: str) -> set[str]:
    """The fields the dialect's RealtimeSession schema types: its properties and its branches' (openai's
    if type is transcription then … else …), read from the schema file."""
    schema = read_json(spec_file("schemas/realtime-session.json", dialect))
    branches = [schema, schema.get("then", {}), schema.get("else", {})]
    return {name for branch in branches for name in branch.get("properties", {})}


def server_owned(dialect: str, field: str) -> bool:
    """A field of the session the server owns (`readOnly` in the session's schema: openai's id, object
    and expiry come from the SDK's response types)."""
    schema = read_json(spec_file("schemas/realtime-session.json", dialect))
    return bool(schema.get("properties", {}).get(field, {}).get("readOnly"))


def transcripts(report: Path) -> list[Transcript]:
    """Every connection a run recorded (its report's transcripts/all.jsonl)."""
    with (report / "transcripts" / "all.jsonl").open(encoding="utf-8") as lines:
        return list(iter_jsonl(lines))


def only_in(dialect: str) -> list[dict[str, Any]]:
    """The catalogue's requirements that exist in this dialect alone (its `dialects` field)."""
    return [r for r in CATALOGUE if r.get("dialects") == [dialect]]


# ------------------------------------------------------------------------------ every typed field is sent


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("seed", seeds())
def test_every_field_the_dialects_session_schema_types_is_set_by_a_well_typed_generated_update(
    dialect: str, seed: int
) -> None:
    """Applied: set with a value of its documented type, which an accepting server must show again (the
    oracle's `applied`), so the field's requirement is judged on it. The server's own fields (readOnly)
    are set too, by updates that are not invalid (what an update sets there may be ignored)."""
    spoken = contract(dialect)
    wanted = typed_fields(dialect)
    assert wanted
    applied: set[str] = set()
    set_not_invalid: set[str] = set()
    for text in corpus_updates(dialect, seed):
        verdict = classify(as_sent(text), spoken, Context(frozenset({MODEL})))
        if verdict.kind != "invalid":
            applied |= set(verdict.applied)
            set_not_invalid |= set(session_of(text))
    kept = spoken.server_owned  # the model too, where an update may not change it (openai)
    owned = {
        f for f in wanted if f in kept or server_owned(dialect, f) or spoken.patch_properties.get(f, {}).get("readOnly")
    }
    assert wanted - owned <= applied, sorted(wanted - owned - applied)
    settable = owned & set(spoken.patch_properties)  # openai's update has no id, object or expiry at all
    assert settable <= set_not_invalid, sorted(settable - set_not_invalid)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("seed", seeds())
def test_each_requirement_of_one_dialect_alone_is_exercised_against_its_mock(
    dialect: str, seed: int, tmp_path: Path
) -> None:
    """Exercised and passed, and each session field its schema names it for comes back in a session.updated
    of the run (a field the mock's first session lacks is there only because an update set it)."""
    own = only_in(dialect)
    assert own, f"the catalogue has no {dialect}-only requirement"
    args = ["run", "--dialect", dialect, "--profile", "full", "--connections", "12", "--seed", str(seed), *QUICK]
    result = run_cli(*args, "--report-dir", str(tmp_path))
    assert result.exit_code == 0, result.failed
    by_id = {r["id"]: r for r in result.summary["requirements"]}
    shown: set[str] = set()
    for transcript in transcripts(tmp_path):
        for frame in transcript.frames:
            event = json.loads(frame.text) if frame.direction == "server" and frame.text else {}
            if isinstance(event, dict) and event.get("type") == "session.updated":
                shown |= {k for k, v in event.get("session", {}).items() if v is not None}
    schema = read_json(spec_file("schemas/realtime-session.json", dialect))["properties"]
    for requirement in own:
        assert by_id[requirement["id"]]["status"] == "passed", requirement["id"]
        assert by_id[requirement["id"]]["exchanges"] >= 1, requirement["id"]
        named = {field for field, node in schema.items() if requirement["id"] in json.dumps(node.get("x-requirement"))}
        named = {field for field in named if not server_owned(dialect, field)} - {"id", "object"}
        assert named <= shown, (requirement["id"], sorted(named - shown))


# ------------------------------------------------------------------------------ openai: valid is valid GA


def test_every_openai_update_the_oracle_calls_valid_is_valid_ga_and_sets_no_yandex_only_field() -> None:
    """GA requires session.type; the fields yandex has and GA has not (voice, turn_detection,
    input_audio_transcription at the top) are never in an update the openai oracle calls valid. The SDK's
    own type accepts each of them."""
    sdk = pytest.importorskip("openai.types.realtime")
    openai, yandex = contract("openai"), contract("yandex")
    yandex_only = set(yandex.patch_properties) - set(openai.patch_properties)
    assert yandex_only
    valid = 0
    for seed in seeds():
        for text in corpus_updates("openai", seed):
            sent = as_sent(text)
            if classify(sent, openai, Context(frozenset({MODEL}))).kind != "valid":
                continue
            valid += 1
            session = session_of(sent)
            assert session.get("type") in session_types(openai), sent
            assert not yandex_only & set(session), sent
            sdk.SessionUpdateEvent.model_validate(json.loads(sent))
    assert valid


@given(st.data())
@settings(max_examples=60, database=None, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_drawn_valid_openai_session_is_valid_under_the_openai_oracle(data: st.DataObject) -> None:
    openai = contract("openai")
    session = data.draw(generate.valid_session(openai))
    assert "type" in session
    if session["type"] in ("realtime", TYPE_PLACEHOLDER):
        text = as_sent(json.dumps({"type": "session.update", "session": session}))
        assert classify(text, openai, Context(frozenset({MODEL}))).kind == "valid", text


def test_the_openai_probes_break_each_rule_of_the_ga_session() -> None:
    """Every field of the GA session (the patch schema's realtime branch), every member of the guide's
    audio the GA types constrain (its voice, formats and rates), and the required session.type each have
    an invalid probe that the oracle blames on exactly that path."""
    openai = contract("openai")
    found = generate.probes(openai)
    paths = {classify(text, openai).path for _, text in found}
    for text in (t for _, t in found):
        assert classify(text, openai).kind == "invalid"
    patch = read_json(spec_file("schemas/session-update-patch.json", "openai"))
    top = set(patch["properties"]) | set(patch["else"]["properties"])
    for field in top - {"type"} - openai.server_owned:  # what an update sets there may be ignored
        assert any(p is not None and p.startswith(f"session.{field}") for p in paths), field
    audio = openai.schemas["known-values.json"]["properties"]["audio"]["const"]
    validator = Draft202012Validator(patch)
    for path in leaf_paths(audio):
        breaks = any(
            not validator.is_valid({"type": "realtime", "audio": replaced(audio, path, wrong)})
            for wrong in (True, 0, 1.5, [], "x", {})
        )
        if breaks:
            probed = [t for rule, t in found if rule == "session.audio." + ".".join(path)]
            assert probed, path  # the oracle may blame the enclosing anyOf: the rule names the member
            assert all(
                session_of(t)["audio"] == replaced(audio, path, at(session_of(t)["audio"], path)) for t in probed
            )
    assert "session.audio.output.voice" in {rule for rule, _ in found}  # GA types the voice there
    missing_type = [t for rule, t in found if rule == "session.type required"]
    assert missing_type and all("type" not in json.loads(t)["session"] for t in missing_type)
    assert classify(missing_type[0], contract("yandex")).kind != "invalid"  # a patch there: undetermined


def leaf_paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*path, key)
            yield from leaf_paths(inner, (*path, key))


def replaced(value: Any, path: tuple[str, ...], leaf: Any) -> Any:
    return leaf if not path else {**value, path[0]: replaced(value[path[0]], path[1:], leaf)}


def test_the_yandex_probes_stay_those_of_its_own_rules() -> None:
    """What the openai dialect adds (a required session.type, typed audio members) is no probe of yandex's."""
    yandex = contract("yandex")
    for rule, text in generate.probes(yandex):
        assert classify(text, yandex).kind == "invalid", rule
        assert not rule.startswith("session.audio."), rule
        assert rule != "session.type required"


def test_schemathesis_draws_from_the_dialects_own_schemas() -> None:
    """The coverage phase of openai sends GA-only fields (yandex's never does)."""
    ga_only = set(contract("openai").patch_properties) - set(contract("yandex").patch_properties)
    assert ga_only

    def sent_fields(dialect: str) -> set[str]:
        return {k for plan in generate.coverage_plans(contract(dialect)) for t in plan.updates for k in session_of(t)}

    assert ga_only & sent_fields("openai")
    assert not ga_only & sent_fields("yandex")


def test_the_corpus_is_kept_per_dialect_and_model_names() -> None:
    keys = {corpus_key(1, 4, d, names) for d in DIALECTS for names in ((), ("a",), ("a", "b"))}
    assert len(keys) == len(DIALECTS) * 3
    assert corpus_key(1, 4) == corpus_key(1, 4, DEFAULT_DIALECT, ())


# ------------------------------------------------------------------------------ the model under openai


def test_under_openai_an_update_setting_the_model_is_undetermined_and_no_valid_one_sets_it() -> None:
    """The SDK's session.update may change "any field except for `voice` and `model`" (dialect.json's
    model_fixed): whatever model it names, announced, given or the URL's, a target may refuse it. Under
    yandex the model the target announced stays valid to set."""
    from conformance.checks import url_models

    given_names = ("my-realtime-model",)
    url = "wss://api.example.test/v1/realtime?model=from-the-url"
    served = Context(frozenset({MODEL, *given_names, *url_models(url)}))
    for names in ((), given_names):
        for model in (MODEL, *given_names, "from-the-url", *contract("openai").model_names):
            update = json.dumps({"type": "session.update", "session": {"type": "realtime", "model": model}})
            assert classify(update, contract("openai", names), served).kind == "undetermined"
        assert fields.model_values(contract("openai", names)) == []
        valid = [
            t
            for t in corpus_updates("openai", 1, names=names)
            if classify(as_sent(t), contract("openai", names), served).kind == "valid"
        ]
        assert valid and not [t for t in valid if "model" in session_of(as_sent(t))]
    yandex = contract("yandex")
    announced = {"type": "session.update", "session": {"type": "realtime", "model": yandex.model_id("b1gfolder")}}
    assert classify(json.dumps(announced), yandex, Context(frozenset({yandex.model_id("b1gfolder")}))).kind == "valid"
    assert classify(json.dumps(announced), yandex, Context()).kind == "undetermined"
    assert fields.model_values(contract("yandex", ("other-model",))) == [MODEL_PLACEHOLDER]
    assert any("model" in session_of(t) for t in corpus_updates("yandex", 1))


@pytest.mark.parametrize("seed", seeds())
def test_a_run_with_model_names_under_openai_is_conformant_and_sets_no_model_in_a_valid_update(
    seed: int, tmp_path: Path
) -> None:
    name = "my-realtime-model"
    args = ["run", "--dialect", "openai", "--model-name", name, "--model", name, "--profile", "full"]
    result = run_cli(*args, "--connections", "6", "--seed", str(seed), *QUICK, "--report-dir", str(tmp_path))
    assert result.exit_code == 0, result.failed
    sent = [
        frame.text
        for transcript in transcripts(tmp_path)
        for frame in transcript.frames
        if frame.direction == "client" and frame.text
    ]
    served = Context(frozenset({name}))
    assert sent and all(
        classify(text, contract("openai", (name,)), served).kind != "valid"
        for text in sent
        if "model" in session_of(text)
    )


# ------------------------------------------------------------------------------ the type placeholder


def test_with_type_fills_only_session_type() -> None:
    update = {"type": "session.update", "session": {"type": TYPE_PLACEHOLDER, "instructions": TYPE_PLACEHOLDER}}
    filled = json.loads(with_type(json.dumps(update), "transcription"))
    assert filled["session"] == {"type": "transcription", "instructions": TYPE_PLACEHOLDER}
    only_text = json.dumps(
        {"type": "session.update", "session": {"type": "realtime", "instructions": TYPE_PLACEHOLDER}}
    )
    assert with_type(only_text, "transcription") == only_text
    unescaped = json.dumps(
        {"type": "session.update", "session": {"type": TYPE_PLACEHOLDER, "instructions": "é"}}, ensure_ascii=False
    )
    assert with_type(unescaped, "realtime") == unescaped.replace(json.dumps(TYPE_PLACEHOLDER), '"realtime"')
    assert with_type("not json " + json.dumps(TYPE_PLACEHOLDER), "realtime").startswith("not json")


@pytest.mark.parametrize(
    "rest",
    [
        r'"instructions": "\u00e9\ud800 é"',  # an escaped lone surrogate beside unescaped text
        '"max_output_tokens": ' + "9" * 5000,  # more digits than Python converts to int by default
        '"temperature": 1e400',  # not a finite float
        '"tools": [], "tools": {}',  # a duplicate key
        '"instructions": "$created-type", "x": {"$created-type": "$created-type"}',  # the placeholder elsewhere
    ],
)
def test_with_type_changes_no_other_byte_of_the_planned_text(rest: str) -> None:
    """The type is spliced into the text: what else a probe sends (escapes, long numbers, duplicate keys)
    goes as planned, and nothing is raised."""
    mark = json.dumps(TYPE_PLACEHOLDER)
    first = '{"type": "session.update", "session": {"type": ' + mark + ", " + rest + "}}"
    last = '{"type": "session.update", "session": {' + rest + ', "type": ' + mark + "}}"
    for text, position in ((first, first.index(mark)), (last, last.rindex(mark))):
        assert with_type(text, "realtime") == text[:position] + '"realtime"' + text[position + len(mark) :]


def test_a_frame_with_the_placeholder_in_its_instructions_is_sent_unchanged_and_a_replay_literally() -> None:
    received: list[str] = []

    async def recording(ws: ServerConnection) -> None:
        created = {"type": "session.created", "event_id": "c", "session": {"type": "transcription"}}
        await ws.send(json.dumps(created))
        try:
            async for message in ws:
                assert isinstance(message, str)
                received.append(message)
                await ws.send(json.dumps({"type": "session.updated", "event_id": f"u{len(received)}", "session": {}}))
        except ConnectionClosed:
            pass

    in_instructions = json.dumps(
        {"type": "session.update", "event_id": "a", "session": {"type": "realtime", "instructions": TYPE_PLACEHOLDER}}
    )
    placed = json.dumps({"type": "session.update", "event_id": "b", "session": {"type": TYPE_PLACEHOLDER}})

    async def main() -> None:
        async with serving(recording) as url:
            target = Target(url, Auth(), FAST, settle_s=0.0, listen_out=False)
            await run_connection(Plan("placeholders", (in_instructions, placed)), target)
            await run_connection(Plan("replayed", (placed,), literal=True), target)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert received[0] == in_instructions
    assert json.loads(received[1])["session"] == {"type": "transcription"}  # what session.created announced
    assert received[2] == placed


def test_the_announced_type_is_one_the_contract_in_hand_documents() -> None:
    for dialect in DIALECTS:
        spoken = contract(dialect)
        for kind in session_types(spoken):
            assert announced_type({"type": kind}, spoken) == kind
        assert announced_type({"type": "not-a-type"}, spoken) == "realtime"
        assert announced_type(None, spoken) == "realtime"


# ------------------------------------------------------------------------------ lax validators


def test_a_wrong_type_a_lax_validator_accepts_is_not_sent() -> None:
    """`true` for an integer, `0` for a boolean: an SDK-typed (pydantic) server takes them, so no probe
    or broken draw is built on one; a wrong type no validator coerces (a string for an integer) still is."""
    openai = contract("openai")

    def update(**session: Any) -> dict[str, Any]:
        return {"type": "session.update", "session": {"type": "realtime", **session}}

    assert fields.coercible(update(max_output_tokens=True), openai)
    assert fields.coercible(update(parallel_tool_calls=0), openai)
    assert not fields.coercible(update(max_output_tokens="x"), openai)
    assert not fields.coercible(update(max_output_tokens=5), openai)  # valid: nothing to coerce
    assert True not in generate.wrong_values("max_output_tokens", openai)
    assert "x" in generate.wrong_values("max_output_tokens", openai)
    sent = [json.loads(t) for _, t in generate.probes(openai) if t.startswith("{")]
    assert not [u for u in sent if fields.coercible(u, openai)]
    assert any(u.get("session", {}).get("max_output_tokens") == "x" for u in sent if isinstance(u.get("session"), dict))
