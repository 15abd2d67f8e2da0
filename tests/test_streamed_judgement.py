"""The run judged connection by connection (conformance.verdict.tally) gives what judging the whole run at once gives.

Against the mock with faults, on seeds 1..3 (`RC_SEEDS=1-10` for the ten-seed sweep): the same
per-requirement results, exercised counts and not-applicable reasons as `checks.judge_all`, and
the kept evidence is exactly the first violations of each requirement in plan order, the rest
counted, whatever order the connections end in and however many shards judged them.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conformance import transcript as transcript_module
from conformance.checks import Judgement, JudgingStopped, Violation, judge, judge_all
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.mock import MockConfig, lookup, serve_mock
from conformance.run import engine, recorder
from conformance.run.distribute import encode, shard_from_json, shard_to_json
from conformance.run.recorder import read_transcripts
from conformance.run.runner import RunLog, Target, run_plans
from conformance.run.settings import Settings
from conformance.run.shard import Shard, plans_for
from conformance.transcript import Frame, Transcript, parse_json, parse_jsonl, parsing_once
from conformance.verdict import tally as tally_module
from conformance.verdict.results import evaluate
from conformance.verdict.tally import Tally
from tests.harness import FAST, mock_thread, run, seeds

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
    with mock_thread(MockConfig(faults=lookup(FAULTS))) as url:
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


def _fresh(transcript: Transcript) -> Transcript:
    """The same frames as new objects: nothing parsed yet."""
    frames = tuple(
        Frame(f.direction, f.time, f.text, f.binary_length, f.close_code, f.close_reason) for f in transcript.frames
    )
    return Transcript(transcript.url, transcript.timeout_s, transcript.models, frames, transcript.label)


@pytest.mark.parametrize("seed", seeds())
def test_judging_with_each_frame_parsed_once_is_judging(seed: int) -> None:
    """The run judges inside `parsing_once`, reusing the runner's parse of each answer: same judgement."""
    contract = load_contract()
    transcripts = _recorded(seed)
    assert any("_json" in f.__dict__ for t in transcripts for f in t.frames), "the runner keeps its parse"
    for transcript in transcripts:
        once, plain = recorder.judged(transcript, contract), judge(_fresh(transcript), contract)
        assert [_key(v) for v in once.violations] == [_key(v) for v in plain.violations]
        assert (once.exercised, once.not_applicable, once.unpaired, once.exchanges) == (
            plain.exercised,
            plain.not_applicable,
            plain.unpaired,
            plain.exchanges,
        )


def test_a_frame_is_parsed_once_and_the_memo_lasts_only_its_scope() -> None:
    text = '{"type": "session.updated", "session": {"n": 12345678901234567890123}}'
    frame = Frame("server", 0.0, text=text)
    value = frame.json()
    assert frame.json() is value and value["session"]["n"] == 12345678901234567890123  # exact, not a float
    assert frame == Frame("server", 0.0, text=text)  # the kept parse is no part of the frame's value
    assert parse_json(text) == value and parse_json(text) is not value  # outside the scope: parsed anew
    with parsing_once([frame]):
        assert parse_json(text) is value  # the frame's own parse
        other = '{"type": "error"}'
        assert parse_json(other) is parse_json(other)  # any text: once
    assert parse_json(text) is not value
    for bad in ("NaN", "{", "\ud800"):
        with pytest.raises(json.JSONDecodeError):
            Frame("server", 0.0, text=bad).json()
        with parsing_once(), pytest.raises(json.JSONDecodeError):
            parse_json(bad)


def test_the_recorder_writes_connections_in_plan_order_whatever_order_they_end_in(tmp_path: Path) -> None:
    """all.jsonl in plan order from connections ending shuffled; a label outside the order goes last."""
    contract = load_contract()
    transcripts = _recorded(1)
    order = {t.label: i for i, t in enumerate(transcripts)}
    stray = Transcript("", 1.0, (), transcripts[0].frames, "not planned")
    ended = [*transcripts, stray]
    random.Random(1).shuffle(ended)
    kept = recorder.Recorder(tmp_path, contract, order)
    for transcript in ended:
        kept.take(transcript)
    assert kept.close() is None
    labels = [t.label for t in read_transcripts(tmp_path / recorder.ALL)]
    assert labels == [*(t.label for t in transcripts), "not planned"]
    assert kept.tally.connections == len(ended)


@pytest.mark.parametrize("items", [transcript_module.KEEP_PARSED_CHARS // 4, transcript_module.STEADY_BRACKETS])
def test_a_frame_of_many_containers_keeps_no_parsed_value(items: int) -> None:
    """A hostile frame may parse into twenty times its size (`[{},{},…]`): past KEEP_PARSED_CHARS, or with
    STEADY_BRACKETS objects and arrays in a frame of a few KB, it is parsed again where needed, never held
    beside its frame (the judging of a connection of them held them all, and each violation's evidence one)."""
    text = json.dumps({"type": "junk", "items": [{}] * items})
    frame = Frame("server", 0.0, text=text)
    assert frame.json() == frame.json() and frame.json() is not frame.json()
    assert "_json" not in frame.__dict__
    with parsing_once([frame]):
        assert parse_json(text) is not parse_json(text)
    few = Frame("server", 0.0, text=json.dumps({"type": "junk", "items": [{}] * 8}))
    assert few.json() is few.json()  # a conforming event's few containers: parsed once, kept


def test_a_shards_recorder_numbers_its_plans_in_the_runs_order(tmp_path: Path) -> None:
    """Shard 1 of 3 runs plans 1, 4, 7…: given its own plan numbers, the recorder keeps the run's (no label map)."""
    contract = load_contract()
    failing = [t for t in _recorded(1) if judge(t, contract).violations][:3]
    assert len(failing) == 3, "the faulty mock must fail several connections"
    kept = recorder.Recorder(tmp_path, contract, {}, shard=(1, 3))
    for number in (2, 0, 1):
        kept.take(failing[number], number)
    assert kept.close() is None
    assert [t.label for t in read_transcripts(tmp_path / recorder.ALL)] == [t.label for t in failing]
    index = kept.tally.evidence_index()
    assert {index[t.label] for t in failing if t.label in index} <= {1, 4, 7} and index
    for label, i in index.items():
        assert (tmp_path / recorder.connection_file(i, label)).is_file()


def test_after_a_bug_in_judging_every_connection_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug of ours in judging one connection (exit 4) stops the judging, never the writing: all.jsonl holds
    every connection that ran, in plan order, so what ran is reported and the bug can be reproduced."""
    contract = load_contract()
    transcripts = _recorded(1)[:6]
    original = recorder.judged

    def buggy(transcript: Transcript, contract: Any, **how: Any) -> Any:
        if transcript.label == transcripts[2].label:
            raise RuntimeError("a bug planted in the test")
        return original(transcript, contract, **how)

    monkeypatch.setattr(recorder, "judged", buggy)
    kept = recorder.Recorder(tmp_path, contract, {t.label: i for i, t in enumerate(transcripts)})
    for transcript in transcripts:
        kept.take(transcript)
    error = kept.close(stopped=lambda: True)  # a signal too: nothing was being judged then, nothing dropped
    assert error is not None and "a bug planted in the test" in error
    assert [t.label for t in read_transcripts(tmp_path / recorder.ALL)] == [t.label for t in transcripts]
    assert kept.tally.connections == 2  # judged until the bug, none after
    assert kept.unjudged == 0  # not judged for the bug (exit 4), which says so, not for the signal


def test_a_signal_while_judging_writes_every_connection_at_once_and_counts_those_not_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judging a hostile target's connection can take seconds: once a signal stops the run, `close` waits
    for no judging. The connection being judged is dropped, those still queued are written unjudged,
    all.jsonl holds every one in plan order, and the tally only those judged before."""
    contract = load_contract()
    transcripts = _recorded(1)[:6]
    original = recorder.judged
    judging, release = threading.Event(), threading.Event()

    def slow(transcript: Transcript, contract: Any, **how: Any) -> Any:
        if transcript.label == transcripts[2].label:
            judging.set()
            release.wait(60)  # judging that outlasts the test unless close stops waiting for it
        return original(transcript, contract, **how)

    monkeypatch.setattr(recorder, "judged", slow)
    monkeypatch.setattr(recorder, "LEAVE_S", 0.2)  # how long close waits for the judging to leave its frame
    kept = recorder.Recorder(tmp_path, contract, {t.label: i for i, t in enumerate(transcripts)})
    for transcript in transcripts:
        kept.take(transcript)
    assert judging.wait(30)
    try:
        assert kept.close(stopped=lambda: True) is None
        assert not release.is_set() and kept.tally.connections == 2
        assert kept.unjudged == 4  # the one being judged, and the three queued behind it
        assert [t.label for t in read_transcripts(tmp_path / recorder.ALL)] == [t.label for t in transcripts]
    finally:
        release.set()
    kept._thread.join(30)
    assert not kept._thread.is_alive() and kept.tally.connections == 2  # the judgement done late is dropped


def test_judging_stops_between_frames_when_asked() -> None:
    """A hostile target's frames can take a tenth of a second each to judge: a stopped run's judging
    stops at the next frame, not at the end of the connection."""
    contract = load_contract()
    transcript = next(t for t in _recorded(1) if sum(f.direction == "server" for f in t.frames) > 3)
    asked: list[int] = []

    def stopped() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(JudgingStopped):
        judge(transcript, contract, stopped=stopped)
    assert len(asked) == 3  # asked before each server frame, and no further once stopped
    assert judge(transcript, contract, stopped=lambda: False) == judge(transcript, contract)


def test_a_connection_that_cannot_be_written_holds_up_no_stopped_close(tmp_path: Path) -> None:
    """A bug of ours writing one connection (exit 4) must not leave a stopped run waiting for it to be
    written: the others are written, in plan order, and the bug is reported."""

    class Unwritable(Transcript):
        def to_jsonl(self, *args: Any, **kwargs: Any) -> str:
            raise RuntimeError("a bug planted in the test")

    contract = load_contract()
    transcripts = _recorded(1)[:4]
    broken = Unwritable(**{f.name: getattr(transcripts[1], f.name) for f in dataclasses.fields(Transcript)})
    kept = recorder.Recorder(tmp_path, contract, {t.label: i for i, t in enumerate(transcripts)})
    for transcript in (transcripts[0], broken, *transcripts[2:]):
        kept.take(transcript)
    error = kept.close(stopped=lambda: True)
    assert error is not None and "a bug planted in the test" in error
    written = [t.label for t in read_transcripts(tmp_path / recorder.ALL)]
    assert written == [t.label for i, t in enumerate(transcripts) if i != 1]
