"""The Allure HTML report as a person sees it: rendered by Allure Report 3, opened in Chromium."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.mock import MockConfig, lookup
from conformance.report import allure_cli
from tests.conftest import mock_thread

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need(thing: object, what: str) -> None:
    """Skip on a developer machine without the tool; in CI (which installs it) that is a failure."""
    if not thing:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing in CI: .ci/run (scripts/bootstrap --test) must install it")
        pytest.skip(f"{what} is not installed (scripts/bootstrap --test installs it)")


@pytest.fixture(scope="module")
def faulty_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    need(allure_cli(), "the Allure Report 3 CLI (npm ci)")
    report = tmp_path_factory.mktemp("html") / "reports"
    with mock_thread(MockConfig(faults=lookup(["drops-tools", "no-session-created"]))) as url:
        code = main(["run", "--target", url, "--report-dir", str(report), "--timeout", "0.5", "--quiet"])
    assert code == 1
    return report, json.loads((report / "summary.json").read_text(encoding="utf-8"))


def counts_on_page(text: str) -> dict[str, int]:
    found = {}
    for label in ("Total", "Failed", "Passed", "Skipped"):
        match = re.search(rf"^{label}\s*\n\s*(\d+)\s*$", text, re.M)
        found[label] = int(match[1]) if match else 0
    return found


@pytest.mark.browser
def test_report_in_chromium_shows_the_summary_counts_the_failure_and_its_transcript(
    faulty_report: tuple[Path, dict[str, Any]],
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium, "Debian's chromium")
    need(importlib.util.find_spec("playwright"), "the playwright package (pip install -e '.[test]')")
    from playwright import sync_api

    report, summary = faulty_report
    counts = summary["counts"]
    failing = [r for r in summary["requirements"] if r["status"] == "failed"]
    must = next(r for r in failing if r["level"] == "MUST")
    # Beside the report, in this test session's temporary folder (never the user's reports/); kept for a
    # person to look at when $RC_SCREENSHOTS names a folder.
    screenshots = Path(os.environ.get("RC_SCREENSHOTS") or report.parent / "screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto((report / "allure-report.html").resolve().as_uri())
            page.get_by_text(must["id"], exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(screenshots / "allure-report-overview.png"))
            shown = counts_on_page(page.inner_text("body"))
            assert shown == {
                "Total": len(summary["requirements"]),
                "Failed": counts["requirements_failed"],
                "Passed": counts["requirements_passed"],
                "Skipped": counts["requirements_skipped"],
            }
            page.get_by_text(f"{must['id']}: {must['title']}").first.click()
            page.get_by_text("transcript: ").first.click()
            page.get_by_text('"direction": "client"').first.wait_for(timeout=10_000)
            body = page.inner_text("body")
            assert "session.update" in body and "Category: MUST failures" in body
            page.screenshot(path=str(screenshots / "allure-report-failure.png"), full_page=True)
        finally:
            browser.close()


def test_summary_junit_and_allure_results_agree(faulty_report: tuple[Path, dict[str, Any]]) -> None:
    report, summary = faulty_report
    junit = (report / "junit.xml").read_text(encoding="utf-8")
    failures = set(re.findall(r'name="test_requirement\[([A-Z-]+)\]"[^>]*>\s*<failure', junit))
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    allure_status = {next(lb["value"] for lb in r["labels"] if lb["name"] == "story"): r["status"] for r in results}
    summary_status = {r["id"]: r["status"] for r in summary["requirements"]}
    assert allure_status == summary_status
    assert failures == {rid for rid, status in summary_status.items() if status == "failed"}
    assert junit.count("<testcase") == len(summary_status)


def test_report_command_rerenders_and_history_accumulates(faulty_report: tuple[Path, dict[str, Any]]) -> None:
    report, _ = faulty_report
    (report / "allure-report.html").unlink()
    assert main(["report", str(report), "--history"]) == 0
    assert main(["report", str(report), "--history"]) == 0
    assert (report / "allure-report.html").stat().st_size > 10_000
    assert len((report / "history.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_report_command_on_a_dir_without_results_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no allure-results" in capsys.readouterr().err


def test_run_without_the_allure_cli_still_reports_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("conformance.report.allure_cli", lambda search_from=None: None)
    assert main(["run", "--report-dir", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "summary.json").exists() and (tmp_path / "junit.xml").exists()
    assert not (tmp_path / "allure-report.html").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "npm ci" in err[0]


def test_canary_secret_appears_in_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "canary-secret-d41d8cd98f"
    monkeypatch.setenv("CANARY_KEY", canary)
    monkeypatch.setenv("CANARY_HEADER", canary + "-hdr")
    report = tmp_path / "reports"
    with mock_thread(MockConfig(api_key=canary)) as url:
        code = main(
            [
                "run",
                "--target",
                f"{url}?api_key={canary}",
                "--api-key-env",
                "CANARY_KEY",
                "--header",
                "X-Trace:env:CANARY_HEADER",
                "--report-dir",
                str(report),
                "--profile",
                "full",
                "--connections",
                "5",
                "--seed",
                "1",
                "--timeout",
                "0.5",
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert canary not in out and canary not in err
    files = [p for p in report.rglob("*") if p.is_file()]
    assert any(p.name == "allure-report.html" for p in files) or allure_cli() is None
    for path in files:
        assert canary.encode() not in path.read_bytes(), path
