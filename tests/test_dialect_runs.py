"""A run in a non-default dialect reports, reruns and re-judges by that dialect's catalogue, never the default's.

The items of junit.xml are the run's dialect's requirements (the IDs differ by dialect), `--rerun-failed`
and `validate --policy` take the dialect a run recorded unless --dialect says otherwise.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.contract import load_contract
from conformance.mock import MockConfig, lookup
from tests.harness import Result, mock_thread, run_cli

FAST = ["--timeout", "1", "--connect-timeout", "2", "--shrink-budget-s", "0", "--no-html", "--quiet"]
OPENAI = ("--dialect", "openai")


def junit_statuses(path: Path) -> dict[str, str]:
    """Each item's requirement ID and status (passed, failed, skipped, error) as junit.xml reports them."""
    statuses: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        found = re.search(r"\[(.+)\]$", case.get("name", ""))
        assert found, case.get("name")
        kinds = [child.tag for child in case if child.tag in ("failure", "skipped", "error")]
        statuses[found.group(1)] = {"failure": "failed", "skipped": "skipped", "error": "error"}.get(
            kinds[0] if kinds else "", "passed"
        )
    return statuses


def test_an_openai_run_reports_exactly_the_openai_catalogue_in_junit(tmp_path: Path) -> None:
    ids = load_contract(dialect="openai").ids
    assert set(ids) != set(load_contract(dialect="yandex").ids)  # else this test could not tell them apart
    result = run_cli("run", *OPENAI, "--report-dir", str(tmp_path), *FAST)
    assert result.exit_code == 0, result.stderr
    statuses = junit_statuses(tmp_path / "junit.xml")
    assert list(statuses) == list(ids)
    assert statuses == {rid: status for rid, status in result.statuses.items()}
    assert "failed" not in statuses.values() and "error" not in statuses.values()


def test_an_openai_rerun_runs_what_failed_by_the_recorded_dialect(tmp_path: Path) -> None:
    report = tmp_path / "r"
    with mock_thread(MockConfig(faults=lookup(["model-malformed"]), dialect="openai")) as url:
        full = run_cli("run", *OPENAI, "--target", url, "--seed", "5", "--report-dir", str(report), *FAST)
        assert full.exit_code == 1, full.stderr
        failed = [rid for rid, status in full.statuses.items() if status == "failed"]
        assert failed == ["RS-MODEL-NAME"]  # an openai-only requirement
        assert junit_statuses(report / "junit.xml")["RS-MODEL-NAME"] == "failed"
        rerun = run_cli("run", "--rerun-failed", "--report-dir", str(report), *FAST)  # no --dialect: the recorded
    assert rerun.exit_code == 1, rerun.stderr
    second = Result(rerun.exit_code, report / "rerun")
    assert second.summary["spec"]["dialect"] == "openai"
    assert list(second.statuses) == failed and second.summary["selected"] == failed
    assert junit_statuses(report / "rerun" / "junit.xml") == {"RS-MODEL-NAME": "failed"}


@pytest.fixture(scope="module")
def openai_failing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An openai run whose model is malformed (RS-MODEL-NAME fails; the yandex catalogue has no such ID)."""
    report = tmp_path_factory.mktemp("openai")
    with mock_thread(MockConfig(faults=lookup(["model-malformed"]), dialect="openai")) as url:
        assert run_cli("run", *OPENAI, "--target", url, "--report-dir", str(report), *FAST).exit_code == 1
    return report


def _validate(report: Path, *more: str) -> Result:
    return run_cli(
        "validate", str(report / "transcripts" / "all.jsonl"), "--policy", str(report / "summary.json"), *more
    )


def table_statuses(stdout: str) -> dict[str, str]:
    """Each requirement's status in the results table `validate` prints."""
    rows = (re.match(r"^(passed|failed|skipped|xfailed)\s+\S+\s+(\S+)", line) for line in stdout.splitlines())
    return {row.group(2): row.group(1) for row in rows if row}


def test_validate_with_a_policy_judges_by_the_recorded_dialect(openai_failing_run: Path) -> None:
    result = _validate(openai_failing_run)
    assert result.exit_code == 1, result.stderr
    recorded = Result(1, openai_failing_run).statuses
    assert table_statuses(result.stdout) == recorded
    assert set(recorded) == set(load_contract(dialect="openai").ids)


def test_validate_an_explicit_dialect_wins_over_the_recorded_one(openai_failing_run: Path) -> None:
    result = _validate(openai_failing_run, "--dialect", "yandex")
    assert set(table_statuses(result.stdout)) == set(load_contract(dialect="yandex").ids)  # as asked


def test_pytest_suite_with_rc_dialect_openai_has_the_openai_items(tmp_path: Path) -> None:
    from tests.test_pytest_plugin import suite

    done = suite(tmp_path, "--rc-dialect", "openai")
    assert done.returncode == 0, done.stdout[-3000:]
    assert list(junit_statuses(tmp_path / "reports" / "junit.xml")) == list(load_contract(dialect="openai").ids)
