"""CONTRIBUTING.md's two worked examples, done in a temporary copy of the spec and judged.

1. A schema-judged field requirement: the schema (the field, with `x-requirement` beside its
   keyword) and the catalogue; a fixture proves it (the mock fault is the fourth file, not needed here).
2. A client event with its own answer (`input_audio_buffer.clear`, answered by
   `input_audio_buffer.cleared`): the event registry, the two schemas, one check (registered for
   this test only) and a transcript. Nothing in the runner, the oracle or the pairing changes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conformance.checks import CHECKS, check_event, judge
from conformance.checks.connection import Connection, Step
from conformance.checks.registry import Check, Finding, Flaw, Needs
from conformance.contract import SPEC_DIR, Contract, load_contract
from tests.fixtures import to_transcript

FIELD = "max_output_tokens"
SESSION = {"type": "realtime", "id": "sess_1", "instructions": "Be brief."}


def write(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def add_requirement(spec: Path, requirement_id: str, path: str, event: str, title: str) -> None:
    catalogue = read(spec / "requirements.json")
    template = next(r for r in catalogue["requirements"] if r["id"] == "RS-VOICE-TYPE")
    catalogue["requirements"].append({**template, "id": requirement_id, "path": path, "event": event, "title": title})
    write(spec / "requirements.json", catalogue)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    copy = tmp_path / "spec"
    shutil.copytree(SPEC_DIR, copy)
    return copy


# ------------------------------------------------------------- 1. a schema-judged field requirement


def with_field_requirement(spec: Path) -> Contract:
    session = read(spec / "schemas" / "realtime-session.json")
    session["properties"][FIELD] = {"type": "integer", "minimum": 1, "x-requirement": "RS-MAX-OUTPUT-TOKENS-TYPE"}
    write(spec / "schemas" / "realtime-session.json", session)
    add_requirement(spec, "RS-MAX-OUTPUT-TOKENS-TYPE", f"session.{FIELD}", "session.updated", "a toy field rule")
    return load_contract(spec_dir=spec)


@pytest.mark.parametrize(
    ("value", "violates"), [(4096, set()), ("4096", {"RS-MAX-OUTPUT-TOKENS-TYPE"}), (0, {"RS-MAX-OUTPUT-TOKENS-TYPE"})]
)
def test_a_new_field_requirement_is_judged_from_the_schema_and_the_catalogue(
    spec: Path, value: Any, violates: set[str]
) -> None:
    contract = with_field_requirement(spec)
    event = {"type": "session.updated", "event_id": "e1", "session": {**SESSION, FIELD: value}}
    assert {v.requirement for v in check_event(event, contract)} == violates
    assert "RS-MAX-OUTPUT-TOKENS-TYPE" in contract.judged_by["session.updated"].ids  # exercised by every event


# ------------------------------------------------------------ 2. a client event with its own answer

CLEAR, CLEARED, TOY = "input_audio_buffer.clear", "input_audio_buffer.cleared", "EX-CLEAR-ANSWERED"


def with_clear_event(spec: Path) -> Contract:
    registry = read(spec / "events.json")
    registry["events"] += [
        {"name": CLEAR, "direction": "client", "schema": f"{CLEAR}.json", "component": "ClearEvent",
         "answers": [CLEARED, "error"], "source": "a toy client event"},
        {"name": CLEARED, "direction": "server", "schema": f"{CLEARED}.json", "component": "ClearedEvent",
         "source": "a toy server event"},
    ]  # fmt: skip
    write(spec / "events.json", registry)
    base = "https://realtime-conformance.dev/schemas/"
    draft = "https://json-schema.org/draft/2020-12/schema"
    write(
        spec / "schemas" / f"{CLEAR}.json",
        {"$schema": draft, "$id": base + f"{CLEAR}.json", "type": "object", "required": ["type"],
         "properties": {"type": {"const": CLEAR}, "event_id": {"type": "string"}}},
    )  # fmt: skip
    write(
        spec / "schemas" / f"{CLEARED}.json",
        {"$schema": draft, "$id": base + f"{CLEARED}.json", "type": "object",
         "required": ["type", "event_id"],
         "properties": {"type": {"const": CLEARED}, "event_id": {"type": "string", "x-requirement": "CLR-EVENT-ID"}}},
    )  # fmt: skip
    add_requirement(spec, "CLR-EVENT-ID", "event_id", CLEARED, "input_audio_buffer.cleared has event_id")
    add_requirement(spec, TOY, "(exchange)", CLEAR, "a valid clear is answered by cleared in time")
    return load_contract(spec_dir=spec)


def check_clear_answered(step: Step, conn: Connection) -> Finding | None:
    """The toy event's check: its own answer, found by the same pairing every event gets."""
    cleared = [e for e in step.of_type(CLEARED) if step.in_time(e)]
    if cleared:
        return Finding()
    if step.waited_out and step.answer is None:
        return Finding((Flaw("(event)", f"no {CLEARED} within {step.timeout_s:g}s", None, step.sent),))
    return None


TOY_CHECK = Check(TOY, judge_step=check_clear_answered, needs=Needs(event=CLEAR, kinds=frozenset({"valid"})))


def transcript(answer_clear: bool, bad_event_id: bool = False) -> Any:
    created = {"type": "session.created", "event_id": "s0", "session": SESSION}
    update = {"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "instructions": "One."}}
    updated = {"type": "session.updated", "event_id": "s1", "session": {**SESSION, "instructions": "One."}}
    update2 = {**update, "event_id": "c3", "session": {"type": "realtime", "instructions": "Two."}}
    updated2 = {"type": "session.updated", "event_id": "s3", "session": {**SESSION, "instructions": "Two."}}
    cleared = {"type": CLEARED, "event_id": 7 if bad_event_id else "s2"}
    frames = [
        {"direction": "server", "time": 0.01, "json": created},
        {"direction": "client", "time": 0.02, "json": update},
        {"direction": "server", "time": 0.03, "json": updated},
        {"direction": "client", "time": 0.04, "json": {"type": CLEAR, "event_id": "c2"}},
        *([{"direction": "server", "time": 0.05, "json": cleared}] if answer_clear else []),
        {"direction": "client", "time": 0.6 if not answer_clear else 0.06, "json": update2},
        {"direction": "server", "time": 0.62 if not answer_clear else 0.07, "json": updated2},
    ]
    return to_transcript({"timeout_s": 0.5, "frames": frames})


@pytest.mark.parametrize(
    ("answer_clear", "bad_event_id", "violates"),
    [(True, False, set()), (False, False, {TOY}), (True, True, {"CLR-EVENT-ID"})],
)
def test_a_new_client_event_with_its_own_answer_is_paired_and_judged(
    spec: Path, answer_clear: bool, bad_event_id: bool, violates: set[str]
) -> None:
    contract = with_clear_event(spec)
    assert contract.answers_to(CLEAR) == (CLEARED, "error")
    judgement = judge(transcript(answer_clear, bad_event_id), contract, [*CHECKS.values(), TOY_CHECK])
    assert {v.requirement for v in judgement.violations} == violates, judgement.violations
    assert judgement.exchanges == 3 and judgement.unpaired == 0
    assert judgement.exercised[TOY] == 1
    assert judgement.exercised["EX-VALID-ANSWERED"] == 2  # the updates around it are judged as before
