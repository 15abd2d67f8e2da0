"""The Allure results a faulty server leaves: the evidence a QA engineer reads, checked against the frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import transcript as transcript_module
from conformance.checks import Violation
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.jsontext import parse_text
from conformance.mock import MockConfig
from conformance.mock.faults import FAULTS
from conformance.mock.session import Action, Send
from conformance.redact import NO_SECRETS
from conformance.reports.allure import GLOBALS_FILE, identity, remove_ours
from conformance.reports.evidence import EXCHANGE_CHARS, EXPECTED_FROM, FRAME_CHARS, exchange_text
from conformance.transcript import KEEP_PARSED_CHARS, Frame, Transcript
from conformance.verdict.results import RequirementResult
from tests.harness import documented, loopback_server, mock_thread, run_cli

#: Every mock fault that breaks a reflection rule (the rules whose failures show a difference).
REFLECTION_FAULTS = [f for f in FAULTS if set(f.trips) & set(EXPECTED_FROM)]


def run_faulty(tmp_path: Path, fault: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Path]:
    report = tmp_path / "reports"
    with mock_thread(MockConfig(faults=(fault,))) as url:
        run = run_cli("run", "--target", url, "--report-dir", str(report), "--timeout", "0.5", "--quiet", "--no-html")
    assert run.exit_code == 1
    summary = run.summary
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    by_id = {next(lb["value"] for lb in r["labels"] if lb["name"] == "story"): r for r in results}
    return summary, by_id, report / "allure-results"


def at(document: Any, path: str) -> Any:
    for key in path.split("."):
        document = document[key]
    return document


@pytest.mark.parametrize("fault", REFLECTION_FAULTS, ids=[f.name for f in REFLECTION_FAULTS])
def test_a_reflection_failure_shows_expected_and_actual_per_path(tmp_path: Path, fault: Any) -> None:
    summary, by_id, results_dir = run_faulty(tmp_path, fault)
    failed = {r["id"]: r for r in summary["requirements"] if r["status"] == "failed"}
    checked = set(fault.trips) & set(EXPECTED_FROM)
    assert checked <= set(failed)  # the fault is caught (the verdict tests prove it blames nothing else)
    for rid in checked:
        details = by_id[rid]["statusDetails"]
        expected, actual = json.loads(details["expected"]), json.loads(details["actual"])
        assert expected.keys() == actual.keys() and expected
        for connection, paths in actual.items():
            for path, value in paths.items():
                assert expected[connection][path] != value, (rid, connection, path)
                shown = [v for v in failed[rid]["violations"] if v["path"] == path]
                # the actual value is what the offending answer (summary.json's evidence) holds there
                answers = [json.loads(v["received"]) for v in shown]
                assert any(path_value(a, path) == value for a in answers), (rid, path, value)
        # the failure's trace holds the sent/received pair pretty-printed, the answer marked
        assert "--- sent (client →)\n{\n  " in details["trace"]
        assert "--- received (server ←)  <<< broke the rule" in details["trace"]
        # each failing connection is attached as a readable exchange, the offending frame marked
        attachments = by_id[rid]["attachments"]
        assert attachments
        text = (results_dir / attachments[0]["source"]).read_text(encoding="utf-8")
        assert f"BROKE {rid}" in text and '\\\\"' not in text


def path_value(document: Any, path: str) -> Any:
    try:
        return at(document, path)
    except (KeyError, TypeError):
        return "<missing>"


def test_a_passing_run_has_one_identity_per_requirement_and_no_difference(tmp_path: Path) -> None:
    report = tmp_path / "reports"
    assert main(["run", "--report-dir", str(report), "--quiet", "--no-html"]) == 0
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert {r["testCaseId"] for r in results} == {
        identity(r["id"], summary["spec"]["dialect"]) for r in summary["requirements"]
    }
    assert not any("statusDetails" in r and "expected" in r["statusDetails"] for r in results)
    assert not list((report / "allure-results").glob("*-globals.json"))  # a conformant run has no verdict error


def test_rewriting_results_keeps_other_tests_results_in_a_shared_folder(tmp_path: Path) -> None:
    """A pytest session may write other suites' results into the same --alluredir: only ours are replaced."""
    folder = tmp_path / "allure-results"
    folder.mkdir()
    for name, full_name in (
        ("theirs", "tests.test_checkout#test_pay"),
        ("ours-before", "realtime-conformance.default.EX-REFLECT"),
        ("allure-pytest-copy", "test_requirements#test_requirement"),
    ):
        attachment = f"{name}-attachment.txt"
        (folder / attachment).write_text("evidence", encoding="utf-8")
        doc = {"uuid": name, "fullName": full_name, "attachments": [{"source": attachment}]}
        (folder / f"{name}-result.json").write_text(json.dumps(doc), encoding="utf-8")
    remove_ours(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["theirs-attachment.txt", "theirs-result.json"]


PLACEHOLDER = "hostile value goes here"
HOSTILE_VALUES = {
    "huge-integer": "9" * 5000,
    "deep-nesting": "[" * 1000 + "]" * 1000,  # as deep as the suite reads (a deeper frame is untestable)
    "lone-surrogate": '"\\ud800 \\udfff \\u2028"',
}


@pytest.mark.parametrize("kind", list(HOSTILE_VALUES))
def test_hostile_values_in_the_offending_frame_are_reported_not_crashed_on(tmp_path: Path, kind: str) -> None:
    """A documented server whose every session.updated puts a hostile value in the instructions:
    the failure's evidence (pretty frames, the difference) is written, whatever that value is."""

    def reply(text: str) -> list[Action]:
        event = json.loads(text)
        if event["type"] != "session.updated":
            return [Send(text)]
        event["session"]["instructions"] = PLACEHOLDER
        return [Send(json.dumps(event).replace(json.dumps(PLACEHOLDER), HOSTILE_VALUES[kind]))]

    report = tmp_path / "reports"
    with loopback_server(documented(reply)) as url:
        run = run_cli("run", "--target", url, "--report-dir", str(report), "--timeout", "0.5", "--quiet", "--no-html")
    out, err = run.stdout, run.stderr
    code = run.exit_code
    assert code == 1 and "Traceback" not in out + err, err
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    failed = [r for r in results if r["status"] == "failed"]
    assert failed and all(r["statusDetails"]["trace"] and r["attachments"] for r in failed if "trace" in r)


def test_a_flooded_connection_gives_a_bounded_exchange_with_the_offending_frame_whole() -> None:
    requirement = load_contract().requirements[0]
    big = json.dumps({"type": "conversation.item.junk", "data": "x" * 50_000})
    frames = [Frame("server", i / 100, text=big) for i in range(300)]
    update = Frame("client", 1.5, text='{"type": "session.update", "session": {}}')
    offending = Frame("server", 1.6, text='{"type": "session.updated", "session": {"tools": 1}}')
    frames[150:150] = [update, offending]
    transcript = Transcript("ws://x", 0.5, frames=tuple(frames), label="flood")
    violation = Violation(requirement.id, "session.tools", "bad", offending, update, "flood")
    result = RequirementResult(requirement, "failed", 1, (violation,))
    text = exchange_text(transcript, result, NO_SECRETS)
    assert len(text) < EXCHANGE_CHARS + 2 * FRAME_CHARS
    assert f'>>> #152 server ← session.updated at 1.600s   BROKE {requirement.id}\n    {{\n      "type"' in text
    assert "#151 client → session.update at 1.500s   (the update the offending answer is about)" in text


def test_an_untestable_target_is_named_so_first_not_green(tmp_path: Path) -> None:
    """Nothing listens: exit 3, and the report's verdict (its name and global error) says it was not tested."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = tmp_path / "reports"
    args = ["run", "--target", f"ws://127.0.0.1:{port}/v1/realtime", "--report-dir", str(report), "--quiet"]
    assert main([*args, "--timeout", "0.5", "--connect-timeout", "1", "--connect-retries", "0", "--no-html"]) == 3
    folder = report / "allure-results"
    verdict = json.loads((folder / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "error" and verdict["line"].startswith("NOT FULLY TESTED: ")
    errors = json.loads((folder / GLOBALS_FILE).read_text(encoding="utf-8"))["errors"]
    assert [e["message"] for e in errors] == [verdict["line"]]
    statuses = {json.loads(p.read_text())["status"] for p in folder.glob("*-result.json")}
    assert "passed" not in statuses


def test_what_a_target_sent_cannot_forge_a_line_of_the_exchange_or_reach_a_terminal() -> None:
    """The attachment's lines are the tool's own: a target's event type, close reason, non-JSON text or
    characters inside its strings (newlines, escape sequences, C1 controls, line separators, bidi overrides)
    are written escaped, never as a new line or a control sequence."""
    requirement = load_contract().requirements[0]
    hostile = "x\n>>> #9 server ← forged   BROKE\r\x1b[2J\x07\x85\u2028\u202e"
    update = Frame("client", 0.1, text='{"type": "session.update", "session": {}}')
    offending = Frame("server", 0.2, text=json.dumps({"type": hostile, "session": {"instructions": hostile}}))
    closed = Frame("server", 0.4, close_code=4000, close_reason=hostile)
    frames = (update, offending, Frame("server", 0.3, text=hostile), closed)
    transcript = Transcript("ws://x", 0.5, frames=frames, label="hostile")
    violation = Violation(requirement.id, "session.instructions", hostile, offending, update, "hostile")
    text = exchange_text(transcript, RequirementResult(requirement, "failed", 1, (violation,)), NO_SECRETS)
    assert not any(c in text for c in "\r\x1b\x07\x85\u2028\u202e"), text
    marks = [line for line in text.split("\n") if line.startswith(">>> ")]
    assert len(marks) == 1 and marks[0].startswith(">>> #2 server ←")  # the offending frame's own mark alone


def test_a_frame_longer_than_is_shown_is_shown_as_it_came_not_indented(monkeypatch: pytest.MonkeyPatch) -> None:
    """Indenting JSON is pure Python: a hostile target's 64 KB frame of 30,000 items took 50 ms to indent,
    only to be cut at FRAME_CHARS. Such a frame is shown as it came, cut; a shorter one indented. Nor is it
    parsed in Python to be shown: a megabyte of integers with a lone surrogate (which orjson refuses) took
    0.3 s a time, and a signal waited seconds for the reports to show it."""
    requirement = load_contract().requirements[0]
    long = Frame("server", 0.1, text=json.dumps({"type": "session.updated", "session": {"tools": [1] * 30_000}}))
    odd = Frame(
        "server", 0.15, text=json.dumps({"type": "session.updated", "session": {"tools": ["\ud800", *[1] * 30_000]}})
    )
    short = Frame("server", 0.2, text=json.dumps({"type": "session.updated", "session": {"tools": [1]}}))
    said = Frame("server", 0.3, text=json.dumps({"type": "error", "error": {"message": "x" * 30_000 + "\ud800"}}))
    transcript = Transcript("ws://x", 0.5, frames=(long, odd, short, said), label="long")
    parsed: list[int] = []
    monkeypatch.setattr(transcript_module, "_parse", lambda text: parsed.append(len(text)) or parse_text(text))
    frames = (long, odd, short, said)
    violations = tuple(Violation(requirement.id, "session.tools.0", "bad", f, None, "long") for f in frames)
    text = exchange_text(transcript, RequirementResult(requirement, "failed", 4, violations), NO_SECRETS)
    assert parsed and max(parsed) <= KEEP_PARSED_CHARS, parsed  # a long frame whose parse is small (`steady`)
    assert ">>> #2 server ← text at 0.150s" in text  # not read: its kind is shown for its type
    assert ">>> #4 server ← error at 0.300s" in text  # longer than is shown, but a small parse: read
    assert '    {"type": "session.updated", "session": {"tools": ["\\ud800", 1, 1' in text
    assert '    {"type": "session.updated", "session": {"tools": [1, 1, 1' in text
    assert "more characters: see the transcript]" in text and len(text) < 4 * FRAME_CHARS
    assert '    {\n      "type": "session.updated",\n      "session": {\n        "tools": [\n          1\n' in text
