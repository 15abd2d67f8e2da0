"""`realtime-conformance run` end to end: verdicts, exit codes, zero false positives, determinism."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conformance.contract import load_contract
from conformance.generate import scripted_plans
from conformance.mock import FAULTS, Fault, MockConfig, lookup
from conformance.run.settings import Settings
from conformance.run.shard import plans_for
from tests.harness import LATE_S, Result, free_port, mock_thread, run_cli

FAST = ["--timeout", "1", "--connect-timeout", "2", "--shrink-budget-s", "0", "--no-html", "--quiet"]
BEHAVIOUR_FAULTS = [f for f in FAULTS if not f.outcome]
CONTRACT = load_contract()


def run(tmp_path: Path, *args: str) -> Result:
    return run_cli("run", "--report-dir", str(tmp_path / "reports"), *FAST, *args)


def having(result: Result, status: str) -> set[str]:
    return {rid for rid, s in result.statuses.items() if s == status}


def planned_updates(profile: str, connections: int, seed: int) -> int:
    """How many updates the run plans, from the plans themselves (never a number typed here)."""
    settings = replace(Settings(), profile=profile, connections=connections)  # type: ignore[arg-type]
    return sum(len(plan.updates) for plan in plans_for(settings, seed))


def test_clean_mock_full_profile_is_conformant_with_zero_violations(tmp_path: Path) -> None:
    result = run(tmp_path, "--profile", "full", "--connections", "15", "--seed", "11")
    summary = result.summary
    assert result.exit_code == 0 and summary["verdict"] == "conformant"
    assert all(not r["violations"] for r in summary["requirements"])
    assert having(result, "failed") == set()
    assert all(r.get("reason") for r in summary["requirements"] if r["status"] == "skipped")
    assert summary["counts"]["exchanges"] == planned_updates("full", 15, 11) > len(scripted_plans())
    assert summary["target"]["kind"] == "mock"


@pytest.mark.parametrize("fault", BEHAVIOUR_FAULTS, ids=[f.name for f in BEHAVIOUR_FAULTS])
def test_faulty_mock_fails_its_requirement_and_nothing_else(tmp_path: Path, fault: Fault) -> None:
    levels = {CONTRACT.requirement(rid).level for rid in fault.trips}
    strict = ["--strict"] if levels == {"SHOULD"} else []  # a SHOULD alone fails only a strict run
    with mock_thread(MockConfig(faults=(fault,), late_s=LATE_S)) as url:
        args = ["--target", url, "--profile", "full", "--connections", "8", "--seed", "3"]
        result = run(tmp_path, *args, *strict)
    failed = having(result, "failed")
    assert result.exit_code == 1 and result.summary["verdict"] == "non-conformant"
    assert failed & set(fault.trips), f"{fault.name} tripped nothing it declares"
    allowed = set(fault.trips) | set(fault.may_trip)
    assert failed <= allowed, f"false positives: {failed - allowed}"


def test_same_seed_gives_the_same_summary_and_another_seed_other_exchanges(tmp_path: Path) -> None:
    def stable(summary: dict[str, Any]) -> dict[str, Any]:
        # the embedded mock listens on a free port, so its URL differs from run to run
        return {k: v for k, v in summary.items() if k not in ("started_at", "duration_s", "target")}

    def sent(directory: Path) -> list[str]:
        text = (directory / "reports" / "transcripts" / "all.jsonl").read_text(encoding="utf-8")
        lines = text.split("\n")  # not splitlines(): U+2028 inside a frame's text is no line break
        return [json.loads(line)["text"] for line in lines if '"direction": "client"' in line and '"text"' in line]

    runs = []
    for name, seed in (("a", "21"), ("b", "21"), ("c", "22")):
        (tmp_path / name).mkdir()
        result = run(tmp_path / name, "--profile", "full", "--connections", "10", "--seed", seed)
        assert result.exit_code == 0
        runs.append((result.summary, sent(tmp_path / name)))
    assert stable(runs[0][0]) == stable(runs[1][0]) and runs[0][1] == runs[1][1]
    assert runs[0][1] != runs[2][1]
    assert runs[0][0]["seed"] == 21 and runs[2][0]["seed"] == 22


def test_nothing_listening_exits_3_and_still_writes_a_summary(tmp_path: Path) -> None:
    result = run(tmp_path, "--target", f"ws://127.0.0.1:{free_port()}/v1/realtime/openai")
    summary = result.summary
    assert result.exit_code == 3 and summary["verdict"] == "error" and "refused" in summary["error"]["message"]
    assert having(result, "passed") == set() and "Traceback" not in result.stderr
    assert "connection refused" in result.stderr


@pytest.mark.parametrize(
    "args", [["--target", "http://127.0.0.1:1/"], ["--timeout", "0"], ["--header", "no-colon"], ["--connections", "0"]]
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str]) -> None:
    result = run_cli("run", "--report-dir", str(tmp_path), *args)
    err = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert len(err) == 1 and err[0].startswith("realtime-conformance: error:")


def test_reports_name_every_requirement_in_junit_and_allure(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.exit_code == 0
    report = result.report
    junit = (report / "junit.xml").read_text(encoding="utf-8")
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    stories = {label["value"] for r in results for label in r["labels"] if label["name"] == "story"}
    ids = set(result.statuses)
    assert ids == set(CONTRACT.ids)
    assert all(f"test_requirement[{rid}]" in junit for rid in ids)
    assert stories == ids and len(results) == len(ids)
    severities = {label["value"] for r in results for label in r["labels"] if label["name"] == "severity"}
    assert severities <= {"critical", "normal"}


def test_a_failing_generated_exchange_is_shrunk_to_a_minimal_one(tmp_path: Path) -> None:
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        args = ["--target", url, "--profile", "full", "--connections", "10", "--seed", "6"]
        result = run(tmp_path, *args, "--shrink-budget-s", "20")  # the last --shrink-budget-s wins
    assert result.exit_code == 1
    minimal = {m["requirement"]: m for m in result.summary["minimal_failures"]}
    assert set(minimal) == {"EX-REFLECT"}
    updates = minimal["EX-REFLECT"]["updates"]
    assert len(updates) == 1 and '"tools"' in updates[0]  # one update suffices, so one is kept
    transcript = result.report / minimal["EX-REFLECT"]["transcript"]
    assert run_cli("validate", str(transcript)).exit_code == 1  # the minimal exchange still fails, offline too


def test_a_shrunk_connection_waits_where_the_generated_one_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No patch semantics shows only on a second update, so shrinking replays connections of several: each
    waits out the timeout where a generated connection does (`generate.waits`), so a late or second answer
    lands in the window it landed in when the run found it."""
    from conformance.generate import waits
    from conformance.generate.plan import Plan
    from conformance.run import shrink

    replayed: list[Plan] = []
    original = shrink.run_connection

    async def recording(plan: Plan, *args: Any, **kwargs: Any) -> Any:
        replayed.append(plan)
        return await original(plan, *args, **kwargs)

    monkeypatch.setattr(shrink, "run_connection", recording)
    with mock_thread(MockConfig(faults=lookup(["resets-unset-fields"]))) as url:
        args = ["--target", url, "--profile", "full", "--connections", "6", "--seed", "2"]
        result = run(tmp_path, *args, "--shrink-budget-s", "5", "--timeout", "0.3")
    assert result.exit_code == 1
    several = [plan for plan in replayed if len(plan.updates) > 1]
    assert several and all(plan.wait_after == waits(len(plan.updates)) for plan in several)


def test_the_suite_runs_under_plain_pytest(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "conformance.suite",
            "--rc-target",
            "mock",
            "--rc-report-dir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert f"{len(CONTRACT.ids)} passed" in done.stdout  # one test per requirement
    assert json.loads((tmp_path / "summary.json").read_text())["verdict"] == "conformant"
