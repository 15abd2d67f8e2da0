"""`realtime-conformance replay FILE --target URL`: a recorded exchange re-sent and judged in one command."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from websockets.asyncio.server import ServerConnection

from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.mock import DEFAULT_MODEL
from conformance.reports.summary import summary_schema
from tests.harness import ServerThread, event_of, serving

CONTRACT = load_contract()
FAST = ["--timeout", "0.5", "--connect-timeout", "2", "--connect-retries", "0"]


async def forgets_instructions(ws: ServerConnection) -> None:
    """Answers every update as documented, except that session.updated leaves out `instructions`."""
    config: dict[str, Any] = {"type": "realtime", "id": "sess_1", "object": "realtime.session", "model": DEFAULT_MODEL}
    await ws.send(json.dumps({"type": "session.created", "event_id": "evt_0", "session": config}))
    count = 0
    async for text in ws:
        count += 1
        event = event_of(text)
        session = event.get("session")
        valid = isinstance(session, dict) and session.get("type") in ("realtime", "transcription")
        if event.get("type") != "session.update" or not valid:
            echo = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            error = {"type": "invalid_request_error", "message": "bad update", "event_id": echo}
            await ws.send(json.dumps({"type": "error", "event_id": f"evt_{count}", "error": error}))
            continue
        assert isinstance(session, dict)
        config.update(session)
        answer = {k: v for k, v in config.items() if k != "instructions"}
        await ws.send(json.dumps({"type": "session.updated", "event_id": f"evt_{count}", "session": answer}))


def faulty_server() -> AbstractAsyncContextManager[str]:
    return serving(forgets_instructions, "/v1/realtime", ping_interval=20)


def recorded(tmp_path: Path) -> Path:
    """A transcript as a report writes it: one connection, one update that sets instructions."""
    update = {"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "instructions": "Be brief."}}
    lines = [
        {"transcript": 1, "url": "ws://example.test/v1/realtime", "timeout_s": 0.5, "models": [DEFAULT_MODEL]},
        {"direction": "server", "time": 0.0, "text": json.dumps({"type": "session.created", "event_id": "e"})},
        {"direction": "client", "time": 0.01, "text": json.dumps(update)},
    ]
    path = tmp_path / "001-failing.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_replay_against_the_faulty_server_fails_exactly_its_requirement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "replayed"
    with ServerThread(faulty_server) as url:
        code = main(["replay", str(recorded(tmp_path)), "--target", url, "--report-dir", str(report), *FAST])
    out = capsys.readouterr().out
    failed = {line.split()[2] for line in out.splitlines() if line.startswith("failed ")}
    assert code == 1 and failed == {"EX-REFLECT"}, out
    assert "replay: non-conformant" in out and "1 client frame(s) re-sent" in out
    assert_report(report, "non-conformant", {"EX-REFLECT"})


def assert_report(report: Path, verdict: str, failed: set[str]) -> None:
    """The replay's report dir holds what a run's holds, agreeing with the verdict printed."""
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == verdict
    assert {r["id"] for r in summary["requirements"] if r["status"] == "failed"} == failed
    junit = ET.parse(report / "junit.xml").getroot()
    cases = list(junit.iter("testcase"))
    assert len(cases) == len(CONTRACT.ids)
    junit_failed = {c.get("name", "")[len("test_requirement[") : -1] for c in cases if c.find("failure") is not None}
    assert junit_failed == failed
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert properties["realtime-conformance.verdict"] == verdict
    results = [json.loads(p.read_text(encoding="utf-8")) for p in (report / "allure-results").glob("*-result.json")]
    assert sorted(r["fullName"].rsplit(".", 1)[-1] for r in results) == sorted(CONTRACT.ids)
    assert {r["fullName"].rsplit(".", 1)[-1] for r in results if r["status"] == "failed"} == failed
    assert (report / "transcripts" / "all.jsonl").stat().st_size > 0
    for violation in (v for r in summary["requirements"] for v in r["violations"]):
        assert (report / violation["transcript"]).is_file()


def test_replay_against_a_conforming_server_passes_and_reports_into_reports_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["replay", str(recorded(tmp_path)), "--target", "mock", *FAST]) == 0
    assert "replay: conformant" in capsys.readouterr().out
    assert_report(tmp_path / "reports" / "replay", "conformant", set())  # the default: beside a run's reports/
    assert not (tmp_path / "reports" / "summary.json").exists()


def test_replay_against_nothing_listening_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = tmp_path / "replayed"
    args = ["replay", str(recorded(tmp_path)), "--target", f"ws://127.0.0.1:{port}/", "--report-dir", str(report)]
    assert main([*args, *FAST]) == 3
    err = capsys.readouterr().err
    assert "could not be tested" in err and "Traceback" not in err
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))  # what ran is still reported
    assert summary["verdict"] == "error" and summary["error"]["kind"] == "refused"
    errors = [c for c in ET.parse(report / "junit.xml").getroot().iter("testcase") if c.find("error") is not None]
    assert len(errors) == len(CONTRACT.ids)


def test_replay_of_a_report_transcript_reproduces_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r"
    with ServerThread(faulty_server) as url:
        assert main(["run", "--target", url, "--report-dir", str(report), "--no-html", "--quiet", *FAST]) == 1
        failing = sorted((report / "transcripts").glob("[0-9]*.jsonl"))
        assert failing
        before = {p: p.read_bytes() for p in report.rglob("*") if p.is_file()}
        capsys.readouterr()
        assert main(["replay", str(failing[0]), "--target", url, "--report-dir", str(report / "replay"), *FAST]) == 1
    assert "EX-REFLECT" in capsys.readouterr().out
    assert all(p.read_bytes() == content for p, content in before.items())  # the run's report is untouched
    assert_report(report / "replay", "non-conformant", {"EX-REFLECT"})
    # the replay's summary names the file replayed, by its name only, and the schema allows it; a run's does not
    summary = json.loads((report / "replay" / "summary.json").read_text(encoding="utf-8"))
    Draft202012Validator(summary_schema()).validate(summary)
    assert summary["seed"] == 0 and summary["replay"] == {"file": failing[0].name}
    assert "replay" not in json.loads((report / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("content", ["", "not json\n", '{"transcript": 1, "timeout_s": 1}\n'])
def test_replay_of_an_unusable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    assert main(["replay", str(path), "--target", "mock", "--report-dir", str(tmp_path / "replayed")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_replay_of_a_client_frame_that_is_not_unicode_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A transcript's client text with a lone surrogate: websockets failed inside (a traceback, exit 3, and the
    transcript blamed the server for the close). No text frame can carry it: it is the file's fault."""
    path = tmp_path / "surrogate.jsonl"
    header = {"transcript": 1, "url": "ws://127.0.0.1:9/v1/realtime", "timeout_s": 0.2, "label": "x"}
    update = {"direction": "client", "time": 0.1, "text": '{"type": "session.update", "session": {"x": "\udc00"}}'}
    path.write_text(f"{json.dumps(header)}\n{json.dumps(update)}\n", encoding="utf-8")  # the surrogate escaped
    assert main(["replay", str(path), "--target", "mock", "--report-dir", str(tmp_path / "replayed")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not valid Unicode" in err and "Traceback" not in err


@pytest.mark.parametrize("packed", [True, False], ids=["archive", "folder"])
def test_replay_of_a_certification_bundle_reads_its_transcripts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], packed: bool
) -> None:
    import tarfile

    folder = tmp_path / "bundle" / "certificate" / "transcripts"
    folder.mkdir(parents=True)
    recorded(tmp_path).rename(folder / "all.jsonl")
    source = tmp_path / "bundle"
    if packed:
        source = tmp_path / "certificate.tar.gz"
        with tarfile.open(source, "w:gz") as archive:
            archive.add(tmp_path / "bundle" / "certificate", arcname="certificate")
    with ServerThread(faulty_server) as url:
        assert main(["replay", str(source), "--target", url, "--report-dir", str(tmp_path / "replayed"), *FAST]) == 1
    assert "EX-REFLECT" in capsys.readouterr().out
    summary = json.loads((tmp_path / "replayed" / "summary.json").read_text(encoding="utf-8"))
    assert summary["replay"] == {"file": "certificate.tar.gz" if packed else "bundle"}
