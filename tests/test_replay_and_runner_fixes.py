"""Replay sends what was recorded and ends as `run` ends; the runner waits as the judge pairs.

- `replay` exits with run's codes (4 with the traceback, 130 interrupted), sends the recorded client
  frames byte for byte (no placeholder filled in, an empty frame kept), and takes a bundle's dialect;
- the runner asks the run's contract what answers an update, and never takes an error echoing an
  earlier update's event_id as the current update's answer (the judge moves it to that update).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

import conformance.checks.pairing as pairing
import conformance.run.shard as shard
from conformance.checks import judge_all
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.generate.plan import MODEL_PLACEHOLDER, Plan
from conformance.mock import DEFAULT_MODEL
from conformance.run.placeholders import with_model
from conformance.run.replay import replay_plans
from conformance.run.runner import Target, run_plans
from conformance.transcript import parse_jsonl
from conformance.wire.transport import Limits
from tests.harness import event_of, loopback_server, run, serving

FAST = ["--timeout", "0.5", "--connect-timeout", "2", "--connect-retries", "0"]
CREATED = {"type": "session.created", "event_id": "evt_0", "session": {"type": "realtime", "model": DEFAULT_MODEL}}


def transcript_file(path: Path, texts: list[str]) -> Path:
    """A transcript as a report writes it: one connection sending `texts`."""
    lines: list[dict[str, Any]] = [
        {"transcript": 1, "url": "ws://example.test/v1/realtime", "timeout_s": 0.5, "models": [DEFAULT_MODEL]},
        {"direction": "server", "time": 0.0, "text": json.dumps(CREATED)},
    ]
    lines += [{"direction": "client", "time": 0.01 * i, "text": t} for i, t in enumerate(texts, start=1)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


UPDATE = json.dumps({"type": "session.update", "event_id": "c1", "session": {"type": "realtime"}})


# --- replay ends as run ends -------------------------------------------------------------------------


def test_replay_of_an_internal_error_exits_4_with_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-planted-0123456789abcdef"

    async def planted(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"planted bug in the runner, quoting a header: {secret}")

    monkeypatch.setattr(shard, "run_plans", planted)
    monkeypatch.setenv("RC_PLANTED_KEY", secret)
    path = transcript_file(tmp_path / "t.jsonl", [UPDATE])
    args = ["--report-dir", str(tmp_path / "r"), "--header", "X-Key:env:RC_PLANTED_KEY", *FAST]
    code = main(["replay", str(path), "--target", "mock", *args])
    err = capsys.readouterr().err
    assert code == 4
    assert "Traceback" in err and "planted bug in the runner" in err and "internal error" in err
    assert secret not in err and "[REDACTED]" in err  # the traceback is masked like every other output
    assert (tmp_path / "r" / "summary.json").is_file()  # what ran is still reported


def test_replay_interrupted_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shard, "run_plans", interrupted)
    path = transcript_file(tmp_path / "t.jsonl", [UPDATE])
    assert main(["replay", str(path), "--target", "mock", "--report-dir", str(tmp_path / "r"), *FAST]) == 130
    assert "Traceback" not in capsys.readouterr().err


# --- replay sends the recorded frames byte for byte ----------------------------------------------------

AS_RECORDED = [
    "not json, but it names $announced-model",
    json.dumps({"type": "session.update", "event_id": "c2", "session": MODEL_PLACEHOLDER}),
    json.dumps(
        {"type": "session.update", "event_id": "c3", "session": {"type": "realtime", "model": "$announced-model"}}
    ),
    json.dumps(
        {"type": "session.update", "event_id": "c4", "session": {"type": "realtime", "instructions": "$created-type"}}
    ),
    "",
]


def recording_server(received: list[str]) -> Any:
    """Answers a valid update with session.updated and anything else with an error echoing its event_id."""

    async def handle(ws: ServerConnection) -> None:
        await ws.send(json.dumps(CREATED))
        try:
            async for text in ws:
                assert isinstance(text, str)
                received.append(text)
                event = event_of(text)
                session = event.get("session")
                if isinstance(session, dict) and session.get("type") == "realtime":
                    answer = {"type": "realtime", "model": DEFAULT_MODEL, **session}
                    await ws.send(json.dumps({"type": "session.updated", "event_id": "u", "session": answer}))
                else:
                    echo = event.get("event_id") if isinstance(event.get("event_id"), str) else None
                    error = {"type": "invalid_request_error", "message": "bad", "event_id": echo}
                    await ws.send(json.dumps({"type": "error", "event_id": "e", "error": error}))
        except ConnectionClosed:
            pass

    return handle


def test_replay_sends_every_recorded_frame_byte_for_byte(tmp_path: Path) -> None:
    path = transcript_file(tmp_path / "t.jsonl", AS_RECORDED)
    received: list[str] = []
    with loopback_server(recording_server(received), "/v1/realtime") as url:
        code = main(["replay", str(path), "--target", url, "--report-dir", str(tmp_path / "r"), *FAST])
    assert code in (0, 1)  # judged, never a crash
    assert received == AS_RECORDED


def test_replay_plans_keep_an_empty_frame_and_are_literal(tmp_path: Path) -> None:
    path = transcript_file(tmp_path / "t.jsonl", AS_RECORDED)
    plans = replay_plans(parse_jsonl(path.read_text(encoding="utf-8"), default_timeout_s=0.5))
    assert [p.updates for p in plans] == [tuple(AS_RECORDED)] and all(p.literal for p in plans)


def test_a_replay_waits_where_the_recorded_client_waited_the_timeout_out(tmp_path: Path) -> None:
    """A recorded wait (the whole timeout passed before the next update, so that update was awaited alone and
    judged so) is waited again on the replay, with the replay's own timeout; the other updates follow at once."""
    texts = [
        json.dumps({"type": "session.update", "event_id": f"c{n}", "session": {"type": "realtime"}}) for n in range(4)
    ]
    lines: list[dict[str, Any]] = [
        {"transcript": 1, "url": "ws://example.test/v1/realtime", "timeout_s": 0.5, "models": [DEFAULT_MODEL]},
        {"direction": "server", "time": 0.0, "text": json.dumps(CREATED)},
    ]
    lines += [
        {"direction": "client", "time": at, "text": t} for at, t in zip((0.01, 0.02, 0.6, 0.61), texts, strict=True)
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    (plan,) = replay_plans(parse_jsonl(path.read_text(encoding="utf-8")))
    assert plan.wait_after == {1}

    async def go() -> Any:
        async with serving(recording_server([]), "/v1/realtime") as url:
            return await run_plans([plan], Target(url, limits=LIMITS, settle_s=0.05))

    (replayed,) = run(go()).transcripts
    sent = [f.time for f in replayed.frames if f.direction == "client" and f.kind == "text"]
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert gaps[1] >= LIMITS.answer_s and gaps[0] < LIMITS.answer_s and gaps[2] < LIMITS.answer_s, gaps


@pytest.mark.parametrize("text", [*AS_RECORDED[:2], json.dumps([MODEL_PLACEHOLDER]), json.dumps({"session": None})])
def test_with_model_leaves_a_text_without_a_placeholder_model_as_it_is(text: str) -> None:
    assert with_model(text, "m") == text


def test_with_model_fills_in_or_drops_the_placeholder_model() -> None:
    filled = json.loads(with_model(AS_RECORDED[2], "gpt-x"))
    assert filled["session"]["model"] == "gpt-x"
    assert "model" not in json.loads(with_model(AS_RECORDED[2], None))["session"]


def test_with_model_changes_no_other_byte_of_the_planned_text() -> None:
    """The model is spliced in: unescaped text, long numbers and the placeholder elsewhere go as planned."""
    mark = json.dumps(MODEL_PLACEHOLDER)
    text = '{"type":"session.update","session":{"instructions":' + mark + ',"model":' + mark + ',"n":' + "9" * 5000
    text += ',"x":"é"}}'
    position = text.rindex(mark)
    assert with_model(text, "gpt-x") == text[:position] + '"gpt-x"' + text[position + len(mark) :]


# --- replay of a bundle takes its dialect -------------------------------------------------------------


def junit_ids(report: Path) -> list[str]:
    cases = ET.parse(report / "junit.xml").getroot().iter("testcase")
    return [c.get("name", "")[len("test_requirement[") : -1] for c in cases]


@pytest.mark.parametrize("explicit", [None, "yandex"])
def test_replay_of_a_bundle_judges_by_its_manifest_dialect_unless_told(tmp_path: Path, explicit: str | None) -> None:
    folder = tmp_path / "bundle" / "certificate"
    (folder / "transcripts").mkdir(parents=True)
    transcript_file(folder / "transcripts" / "all.jsonl", [UPDATE])
    settings = {"timeout_s": 0.5, "model_names": ["gpt-realtime"], "dialect": "openai"}
    (folder / "manifest.json").write_text(json.dumps({"settings": settings}), encoding="utf-8")
    more = ["--dialect", explicit] if explicit else []
    report = tmp_path / "r"
    main(["replay", str(tmp_path / "bundle"), "--target", "mock", "--report-dir", str(report), *FAST, *more])
    dialect = explicit or "openai"
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["spec"]["dialect"] == dialect
    assert junit_ids(report) == list(load_contract(dialect=dialect).ids)


# --- the runner waits as the judge pairs ---------------------------------------------------------------

LIMITS = Limits(connect_s=2.0, answer_s=1.0, close_s=0.5)


def test_the_runner_asks_the_runs_contract_what_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    contract = load_contract(dialect="openai")
    seen: list[Any] = []
    real = pairing.sent_of  # what the runner asks, through `frame_sent`

    def spy(event: Any, used: Any) -> Any:
        seen.append(used)
        return real(event, used)

    monkeypatch.setattr(pairing, "sent_of", spy)

    async def go() -> None:
        async with serving(recording_server([]), "/v1/realtime") as url:
            await run_plans([Plan("p", (UPDATE,))], Target(url, limits=LIMITS, settle_s=0.05, contract=contract))

    run(go())
    assert seen and all(used is contract for used in seen)


def stray_echo_server(delay_s: float) -> Any:
    """Answers each update with session.updated, but before answering the second one sends an error
    echoing the FIRST update's event_id (a late second answer to it), and answers after `delay_s`."""

    async def handle(ws: ServerConnection) -> None:
        await ws.send(json.dumps(CREATED))
        count = 0
        try:
            async for text in ws:
                count += 1
                event = json.loads(text)
                if count == 2:
                    error = {"type": "invalid_request_error", "message": "late", "event_id": "c1"}
                    await ws.send(json.dumps({"type": "error", "event_id": "e_late", "error": error}))
                    await asyncio.sleep(delay_s)
                session = {"type": "realtime", "model": DEFAULT_MODEL, **event["session"]}
                await ws.send(json.dumps({"type": "session.updated", "event_id": f"u{count}", "session": session}))
        except ConnectionClosed:
            pass

    return handle


def _violated(delay_s: float) -> tuple[set[str], list[float], list[float]]:
    updates = tuple(
        json.dumps({"type": "session.update", "event_id": f"c{i}", "session": {"type": "realtime"}}) for i in (1, 2, 3)
    )

    async def go() -> Any:
        async with serving(stray_echo_server(delay_s), "/v1/realtime") as url:
            return await run_plans([Plan("stray", updates)], Target(url, limits=LIMITS, settle_s=0.05))

    log = run(go())
    (transcript,) = log.transcripts
    sent = [f.time for f in transcript.frames if f.direction == "client" and "session.update" in (f.text or "")]
    updated = [f.time for f in transcript.frames if f.direction == "server" and "session.updated" in (f.text or "")]
    judgement = judge_all(log.transcripts, load_contract())
    return {v.requirement for v in judgement.violations}, sent, updated


def test_an_error_echoing_an_earlier_update_is_not_the_answer_the_runner_waits_for() -> None:
    prompt, _, _ = _violated(0.0)
    late, sent, updated = _violated(0.4)  # within the 1 s timeout: a conforming delay
    assert len(sent) == 3 and len(updated) == 3
    assert sent[2] > updated[1]  # the third update went only after the second's own answer
    assert late == prompt  # the delay changes no verdict: runner and judge pair alike
