"""Every fixture through the checks and the oracle: the expected IDs exactly, no more, no fewer."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from jsonschema import Draft202012Validator

from conformance.checks import check_event, judge
from conformance.contract import load_contract
from conformance.contract.oracle import Context, classify_event
from tests.fixtures import ROOT, EventCase, TranscriptCase, UpdateCase, event_cases, transcript_cases, update_cases

CONTRACT = load_contract()
EVENTS = event_cases()
TRANSCRIPTS = transcript_cases()
UPDATES = update_cases()


@pytest.mark.parametrize("case", EVENTS, ids=[c.id for c in EVENTS])
def test_event_fixture_violates_exactly_its_requirements(case: EventCase) -> None:
    assert case.event_type in CONTRACT.server_events, "an event fixture names a server event of spec/events.json"
    assert case.data["type"] == case.event_type  # judged by its own type, as a frame on the wire is
    found = {v.requirement for v in check_event(case.data, CONTRACT)}
    assert found == case.violates


@pytest.mark.parametrize("case", TRANSCRIPTS, ids=[c.id for c in TRANSCRIPTS])
def test_transcript_fixture_violates_exactly_its_requirements(case: TranscriptCase) -> None:
    judgement = judge(case.transcript, CONTRACT)
    assert {v.requirement for v in judgement.violations} == case.violates, judgement.violations
    for requirement in case.violates:
        assert judgement.exercised[requirement] > 0, f"{requirement} violated but not counted as exercised"


@pytest.mark.parametrize("case", UPDATES, ids=[c.id for c in UPDATES])
def test_update_fixture_has_its_classification(case: UpdateCase) -> None:
    contract = load_contract(dialect=case.dialect)
    assert classify_event(case.text, contract, Context(case.models, case.created_type)).kind == case.classification


def test_fixture_files_follow_the_fixture_schema() -> None:
    validator = Draft202012Validator(json.loads((ROOT / "fixture.schema.json").read_text()))
    files = sorted(ROOT.glob("*/*.json"))
    assert files
    for path in files:
        errors = list(validator.iter_errors(json.loads(path.read_text())))
        assert not errors, f"{path}: {errors[0].message}"


def test_every_requirement_is_violated_by_some_fixture() -> None:
    violated = {r for c in EVENTS for r in c.violates} | {r for c in TRANSCRIPTS for r in c.violates}
    assert set(CONTRACT.ids) - violated == set()


def test_at_least_twenty_fixtures_conform() -> None:
    conforming = [c for c in EVENTS if not c.violates] + [c for c in TRANSCRIPTS if not c.violates]
    assert len(conforming) >= 20


def test_every_classification_has_fixtures() -> None:
    counts = Counter(c.classification for c in UPDATES)
    assert all(counts[k] >= 5 for k in ("valid", "invalid", "undetermined")), counts
