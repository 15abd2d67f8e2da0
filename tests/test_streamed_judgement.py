"""The run judged connection by connection (conformance.verdict.tally) gives what judging the whole run at once gives.

Against the mock with faults, on seeds 1..3 (`RC_SEEDS=1-10` for the ten-seed sweep): the same
per-requirement results, exercised counts and not-applicable reasons as `checks.judge_all`, and
the kept evidence is exactly the first violations of each requirement in plan order, the rest
counted, whatever order the connections end in and however many shards judged them.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conformance.checks import Judgement, Violation, judge, judge_all
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.mock import MockConfig, lookup, serve_mock
from conformance.run import engine, recorder
from conformance.run.distribute import encode, shard_from_json, shard_to_json
from conformance.run.recorder import read_transcripts
from conformance.run.runner import RunLog, Target, run_plans
from conformance.run.settings import Settings
from conformance.run.shard import Shard, plans_for
from conformance.transcript import Frame, Transcript, parse_jsonl
from conformance.verdict import tally as tally_module
from conformance.verdict.results import evaluate
from conformance.verdict.tally import Tally
from tests.conftest import FAST, ServerThread, run, seeds

#: Faults whose violations differ in kind: event shape, pairing, echo, and one another one explains.
FAULTS = ("answers-twice", "wrong-error-echo", "model-not-string", "applies-rejected", "drops-tools")
KEEP = 2  # evidence kept per requirement in these tests, so bounding is exercised


def _recorded(seed: int) -> list[Transcript]:
    plans = plans_for(Settings(profile="full", connections=4), seed)

    async def main() -> RunLog:
        async with serve_mock(MockConfig(faults=lookup(FAULTS))) as url:
            return await run_plans(plans, Target(url, limits=FAST, settle_s=0.02), concurrency=8)

    log = run(main(), limit_s=120)
    assert log.failure is None and len(log.transcripts) == len(plans)
    return log.transcripts


def _key(v: Violation) -> tuple[Any, ...]:
    frames = [(f.direction, f.text, f.binary_length, f.close_code) if f else None for f in (v.received, v.sent)]
    return (v.requirement, v.path, v.message, v.connection, v.explained_by, *frames)


def _by_requirement(judgement: Judgement) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for v in judgement.violations:
        out.setdefault(v.requirement, []).append(_key(v))
    return out


@pytest.mark.parametrize("seed", seeds())
def test_streamed_judgement_is_judge_all(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tally_module, "EVIDENCE_PER_REQUIREMENT", KEEP)
    contract = load_contract()
    transcripts = _recorded(seed)
    expected = judge_all(transcripts, contract)
    assert expected.violations, "the faulty mock must give violations for this test to mean anything"

    # the connections end in any order, judged by three shards whose tallies cross a process as JSON
    shards = [Tally() for _ in range(3)]
    ended = list(enumerate(transcripts))
    random.Random(seed).shuffle(ended)
    for index, transcript in ended:
        shards[index % 3].add(index, judge(transcript, contract))
    streamed = Tally()
    for shard in shards:
        streamed.merge(Tally.from_json(json.loads(json.dumps(shard.to_json()))))
    got = streamed.judgement()

    assert got.exercised == expected.exercised
    assert got.not_applicable == expected.not_applicable
    assert got.unpaired == expected.unpaired
    want, have = _by_requirement(expected), _by_requirement(got)
    omitted = streamed.omitted()
    assert set(have) == set(want)
    for requirement, violations in want.items():
        assert have[requirement] == violations[:KEEP], requirement
        assert len(have[requirement]) + omitted.get(requirement, 0) == len(violations), requirement
    assert any(omitted.values()), "some requirement must have had more violations than are kept"

    results = evaluate(contract, expected)
    streamed_results = evaluate(contract, got, omitted=omitted)
    assert [(r.requirement.id, r.status, r.exercised, len(r.violations)) for r in results] == [
        (r.requirement.id, r.status, r.exercised, r.violation_count) for r in streamed_results
    ]
    failing = Counter(v.requirement for t in transcripts for v in judge(t, contract).violations)
    for requirement in failing:
        labels = streamed.failing_labels(requirement)
        assert labels and all(
            any(v.requirement == requirement for v in judge(t, contract).violations)
            for t in transcripts
            if t.label in labels
        )


@pytest.mark.parametrize("seed", seeds())
def test_run_writes_each_connection_as_judged(seed: int, tmp_path: Path) -> None:
    """`engine.run` writes all.jsonl as it goes; re-judging that file whole gives the run's results."""
    contract = load_contract()
    with ServerThread(lambda: serve_mock(MockConfig(faults=lookup(FAULTS)))) as url:
        settings = Settings(
            target=url, profile="full", seed=seed, connections=3, timeout_s=0.5, concurrency=4, shrink_budget_s=0
        )
        outcome = engine.run(settings, directory=tmp_path / "transcripts")
    assert outcome.verdict == "non-conformant"
    written = list(read_transcripts(tmp_path / "transcripts" / "all.jsonl"))
    assert len(written) == len(plans_for(settings, seed))
    again = evaluate(contract, judge_all(written, contract))
    assert [(r.requirement.id, r.status, r.exercised) for r in outcome.results] == [
        (r.requirement.id, r.status, r.exercised) for r in again
    ]
    for name in outcome.files.values():  # each connection kept as evidence has its own file
        assert (tmp_path / "transcripts" / name).is_file()


def test_validate_judges_a_file_connection_by_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file many times the bound of one connection is judged whole; one connection over it is refused."""
    texts = [t.to_jsonl() for t in _recorded(1)]
    bound = max(len(text.encode()) for text in texts) + 1  # the largest connection just fits
    monkeypatch.setattr(recorder, "CONNECTION_BYTES", bound)
    path = tmp_path / "t.jsonl"
    path.write_text("".join(texts), encoding="utf-8")
    assert path.stat().st_size > 2 * bound
    contract = load_contract()
    written = parse_jsonl(path.read_text(encoding="utf-8"))
    expected = evaluate(contract, judge_all(written, contract))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"({len(written)} connection(s) judged offline)" in out
    for result in expected:
        assert re.search(rf"^{result.status} +{result.requirement.level} +{result.requirement.id}\b", out, re.M)

    big = Transcript("ws://x/", 1.0, (), (Frame("server", 0.0, text='{"a": "' + "x" * bound + '"}'),), "big")
    path.write_text(written[0].to_jsonl() + big.to_jsonl(), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "larger than" in err[0]


def test_a_remote_workers_files_come_with_its_record() -> None:
    """A worker on another machine cannot write into the controller's folder: its files travel in its record."""
    text = Transcript("ws://x/", 1.0, (), (Frame("server", 0.0, text='{"a": "\ud800"}'),), "one").to_jsonl()
    record = shard_to_json(Shard("ws://x/", RunLog(), planned=("one",), all_name="shard-1.jsonl"))
    record["files"] = {"shard-1.jsonl": text, "001-one.jsonl": text}
    back = shard_from_json(json.loads(encode(record)))
    assert back.directory is not None and back.all_name == "shard-1.jsonl"
    assert (back.directory / "shard-1.jsonl").read_text(encoding="utf-8") == text
    assert [t.label for t in read_transcripts(back.directory / "001-one.jsonl")] == ["one"]
