"""The pytest plugin as a QA engineer runs it: `pytest --pyargs conformance.suite`, in a pytest of its own."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.main import main
from conformance.cli.plugin import CLI_ONLY, PLUGIN_OPTIONS, PREFIX
from conformance.contract import load_contract, spec_hash
from conformance.mock import MockConfig, lookup
from tests.harness import mock_thread, seeds

CONTRACT = load_contract()
FAST = ["--timeout", "0.5", "--connect-timeout", "2", "--shrink-budget-s", "0"]


def pytest_run(cwd: Path, *args: str, plugins_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A separate pytest process, with the installed plugins autoloaded as in any user's environment."""
    import os

    env = dict(os.environ)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("PYTEST_ADDOPTS", None)
    if plugins_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugins_path), env.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def suite(cwd: Path, *args: str, plugins_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    rc = [f"{PREFIX}{a[2:]}" if a.startswith("--") else a for a in FAST]
    return pytest_run(cwd, "--pyargs", "conformance.suite", *rc, *args, plugins_path=plugins_path)


def junit_properties(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {p.get("name", ""): p.get("value", "") for p in root.iter("property")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_without_a_target_the_suite_runs_against_the_embedded_mock(tmp_path: Path) -> None:
    done = suite(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"{len(CONTRACT.ids)} passed" in done.stdout  # one item per requirement, none skipped
    report = tmp_path / "reports"  # the run option's default, as for `realtime-conformance run`
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "conformant" and summary["target"]["kind"] == "mock"
    properties = junit_properties(report / "junit.xml")  # JUnit and Allure by default, as the CLI writes them
    assert properties["realtime-conformance.verdict"] == "conformant"
    assert properties["realtime-conformance.spec-hash"] == spec_hash()
    assert any((report / "allure-results").glob("*-result.json"))


def test_an_unreachable_target_fails_the_session_with_exit_3_and_junit_errors(tmp_path: Path) -> None:
    url = f"ws://user:hunter2secret@127.0.0.1:{free_port()}/v1/realtime?token=abcdefsecret"
    done = suite(tmp_path, f"{PREFIX}target", url, f"{PREFIX}connect-retries", "0")
    assert done.returncode == 3, done.stdout[-3000:]  # the CLI's "not fully testable", never all-skipped 0
    assert "skipped" not in done.stdout.splitlines()[-1]
    assert "hunter2secret" not in done.stdout + done.stderr and "abcdefsecret" not in done.stdout
    junit = tmp_path / "reports" / "junit.xml"
    root = ET.parse(junit).getroot()
    errors = [case for case in root.iter("testcase") if case.find("error") is not None]
    assert len(errors) == len(CONTRACT.ids) and not list(root.iter("skipped"))
    assert all("could not be tested" in (case.find("error").text or "") for case in errors)  # type: ignore[union-attr]
    properties = junit_properties(junit)
    assert properties["realtime-conformance.verdict"] == "error"
    assert properties["realtime-conformance.dialect"] == "yandex"
    assert "secret" not in properties["realtime-conformance.target"]
    assert properties["realtime-conformance.target"].startswith("ws://127.0.0.1:")


def test_plugin_options_are_the_run_options_namespaced() -> None:
    from conformance.cli.options import RUN_OPTIONS

    names = {o.name for o in PLUGIN_OPTIONS}
    assert names == {o.name for o in RUN_OPTIONS if o.name not in CLI_ONLY}
    assert {"target", "profile", "seed", "model", "model-name", "strict", "report-dir", "header"} <= names


PROFILING_LIKE = """
def pytest_addoption(parser):
    # what pytest-profiling (and pytest-timeout) register: generic names the conformance plugin must not take
    parser.getgroup("profiling").addoption("--profile", action="store_true", help="profile the tests")
    parser.getgroup("timeout").addoption("--timeout", type=float, default=None)
    parser.getgroup("other").addoption("--target", default=None)
    parser.getgroup("other").addoption("--seed", default=None)
"""


def test_a_plugin_owning_profile_and_timeout_does_not_clash(tmp_path: Path) -> None:
    (tmp_path / "profiling_like.py").write_text(PROFILING_LIKE, encoding="utf-8")
    (tmp_path / "test_other.py").write_text(
        "def test_other(request):\n    assert request.config.getoption('--profile') is True\n", encoding="utf-8"
    )
    other = pytest_run(tmp_path, "-p", "profiling_like", "test_other.py", "--profile", plugins_path=tmp_path)
    assert other.returncode == 0, other.stdout[-2000:] + other.stderr[-2000:]
    assert "1 passed" in other.stdout
    assert not (tmp_path / "reports").exists()  # an unrelated pytest session runs no conformance suite
    both = suite(tmp_path, "-p", "profiling_like", "--profile", f"{PREFIX}profile", "smoke", plugins_path=tmp_path)
    assert both.returncode == 0, both.stdout[-2000:] + both.stderr[-2000:]
    assert f"{len(CONTRACT.ids)} passed" in both.stdout


@pytest.mark.parametrize(
    "args", [["--rc-timeout", "0"], ["--rc-profile", "bogus"], ["--rc-header", "no-colon"], ["--rc-target", "http://x"]]
)
def test_bad_plugin_options_are_usage_errors_as_on_the_command_line(tmp_path: Path, args: list[str]) -> None:
    done = suite(tmp_path, *args)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR and "Traceback" not in done.stderr
    cli = main(["run", "--report-dir", str(tmp_path / "cli"), *[a.replace(PREFIX, "--") for a in args]])
    assert cli == 2


def statuses(summary: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["status"] for r in summary["requirements"]}


@pytest.mark.parametrize("seed", seeds())
@pytest.mark.parametrize(
    ("fault", "profile", "strict"),
    [("drops-tools", "full", False), ("no-session-created", "smoke", False), ("no-session-created", "smoke", True)],
)
def test_cli_and_plugin_give_the_same_verdict_for_the_same_seed(
    tmp_path: Path, seed: int, fault: str, profile: str, strict: bool
) -> None:
    """Seeds 1-3 here; RC_SEEDS=1-10 sweeps ten. A SHOULD failure fails either only when strict.

    (The SHOULD fault runs the smoke profile: without session.created each connection waits out its timeout.)
    """
    common = ["--profile", profile, "--connections", "6", "--concurrency", "4", "--seed", str(seed)]
    common += ["--strict"] if strict else []
    with mock_thread(MockConfig(faults=lookup([fault]))) as url:
        cli_dir = tmp_path / "cli"
        cli = main(["run", "--target", url, "--report-dir", str(cli_dir), "--no-html", "--quiet", *FAST, *common])
        plugin_dir = tmp_path / "plugin"
        rc = [f"{PREFIX}{a[2:]}" if a.startswith("--") else a for a in common]
        done = suite(tmp_path, f"{PREFIX}target", url, f"{PREFIX}report-dir", str(plugin_dir), *rc)
    by_cli = json.loads((cli_dir / "summary.json").read_text(encoding="utf-8"))
    by_plugin = json.loads((plugin_dir / "summary.json").read_text(encoding="utf-8"))
    assert done.returncode == cli, done.stdout[-3000:]
    assert by_plugin["verdict"] == by_cli["verdict"] and by_plugin["seed"] == by_cli["seed"] == seed
    assert statuses(by_plugin) == statuses(by_cli)
    assert cli == (1 if fault == "drops-tools" or strict else 0)


def report_of(report: Path) -> dict[str, Any]:
    """What a QA lead reads of a report dir: verdict and statuses, each JUnit item's kind and text, the Allure
    results (one per requirement, no copies), and the transcript files."""
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    cases = {}
    for case in ET.parse(report / "junit.xml").getroot().iter("testcase"):
        kinds = [child for child in case if child.tag in ("failure", "error", "skipped")]
        cases[case.get("name")] = (kinds[0].tag, kinds[0].get("message", "")) if kinds else ("passed", "")
    results = [json.loads(p.read_text(encoding="utf-8")) for p in (report / "allure-results").glob("*-result.json")]
    allure = sorted((r["fullName"], r["status"]) for r in results)
    assert len({r["testCaseId"] for r in results}) == len(results)  # no requirement twice
    files = sorted(p.name for p in (report / "transcripts").glob("*.jsonl"))
    shown = {"verdict": summary["verdict"], "statuses": statuses(summary), "junit": cases, "allure": allure}
    return {**shown, "files": files}


@pytest.mark.parametrize("seed", seeds())
def test_under_xdist_a_faulty_target_gets_the_serial_verdict_and_report(tmp_path: Path, seed: int) -> None:
    """`-n 2` runs the exchanges once (in the controller) and gives what `-n 0` gives: the same exit code,
    items and report files. Seeds 1-3 here; RC_SEEDS=1-10 sweeps ten."""
    common = [f"{PREFIX}seed", str(seed), f"{PREFIX}profile", "full", f"{PREFIX}connections", "6"]
    reports = {}
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        for n in ("0", "2"):
            done = suite(tmp_path, f"{PREFIX}target", url, f"{PREFIX}report-dir", f"r{n}", *common, "-n", n)
            assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
            reports[n] = report_of(tmp_path / f"r{n}")
    assert reports["2"] == reports["0"]
    assert {rid for rid, status in reports["0"]["statuses"].items() if status == "failed"} == {"EX-REFLECT"}
    kind, text = reports["0"]["junit"]["test_requirement[EX-REFLECT]"]
    first = json.loads((tmp_path / "r0" / "summary.json").read_text(encoding="utf-8"))
    violation = next(r for r in first["requirements"] if r["id"] == "EX-REFLECT")["violations"][0]["message"]
    assert kind == "failure" and "EX-REFLECT" in text and violation.splitlines()[0] in text  # names the violation
    assert len(reports["0"]["allure"]) == len(CONTRACT.ids)


@pytest.mark.parametrize("target", ["embedded mock", "unreachable"])
def test_under_xdist_the_embedded_mock_and_an_unreachable_target_exit_as_serial(tmp_path: Path, target: str) -> None:
    args = [f"{PREFIX}seed", "1"]
    if target == "unreachable":
        args += [f"{PREFIX}target", f"ws://127.0.0.1:{free_port()}/v1/realtime", f"{PREFIX}connect-retries", "0"]
    done = {n: suite(tmp_path, *args, f"{PREFIX}report-dir", f"r{n}", "-n", n) for n in ("0", "2")}
    expected = 0 if target == "embedded mock" else 3
    for n, run in done.items():
        assert run.returncode == expected, (n, run.stdout[-3000:], run.stderr[-2000:])
        assert run.stdout.count("realtime-conformance verdict:") == 1  # one run, by the controller only
    first, second = report_of(tmp_path / "r0"), report_of(tmp_path / "r2")
    if target == "unreachable":  # the port, hence the message, is the same; the transcripts are none
        assert all(kind == "error" for kind, _ in first["junit"].values())
    assert second == first


@pytest.mark.parametrize("n", ["0", "2"])
def test_with_allure_pytest_and_alluredir_each_requirement_has_exactly_one_result(tmp_path: Path, n: str) -> None:
    """allure-pytest (installed with the suite) writes a result of its own for each pytest item it sees; the
    suite's results replace those copies, so --alluredir holds one result per requirement, written by us."""
    pytest.importorskip("allure_pytest")
    done = suite(tmp_path, f"{PREFIX}seed", "1", "--alluredir", "shared", "-n", n)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    results = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "shared").glob("*-result.json")]
    assert sorted(r["fullName"].rsplit(".", 1)[-1] for r in results) == sorted(CONTRACT.ids)
    assert not (tmp_path / "reports" / "allure-results").exists()  # --alluredir named where they go
    assert not list((tmp_path / "shared").glob("*-container.json"))  # no fixture containers of allure-pytest's


@pytest.mark.parametrize("n", ["0", "2"])
def test_a_baseline_expected_failure_is_an_xfailed_item_and_the_session_passes(tmp_path: Path, n: str) -> None:
    baseline = tmp_path / "expected-failures.yaml"
    baseline.write_text("- id: EX-REFLECT\n  reason: tools are dropped, ticket 42\n", encoding="utf-8")
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        args = [f"{PREFIX}target", url, f"{PREFIX}expected-failures", str(baseline), f"{PREFIX}seed", "1"]
        done = suite(tmp_path, *args, "-n", n, "-rx")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 xfailed" in done.stdout and f"{len(CONTRACT.ids) - 1} passed" in done.stdout
    assert "XFAIL" in done.stdout and "expected failure (baseline" in done.stdout
