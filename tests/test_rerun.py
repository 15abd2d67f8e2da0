"""`run --rerun-failed`: the recorded target, its own report folder, and no verdict claimed for a part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.mock import MockConfig, lookup
from tests.harness import mock_thread

FAST = ["--timeout", "0.5", "--connect-timeout", "2", "--shrink-budget-s", "0", "--no-html"]


def test_a_rerun_without_target_goes_to_the_recorded_one_and_never_says_conformant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r"
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        assert main(["run", "--target", url, "--seed", "5", "--report-dir", str(report), "--quiet", *FAST]) == 1
        full = (report / "summary.json").read_text(encoding="utf-8")
        badge = (report / "badge.svg").read_text(encoding="utf-8")
        capsys.readouterr()
        code = main(["run", "--rerun-failed", "--report-dir", str(report), "--quiet", *FAST])
    out = capsys.readouterr().out
    failed = [r["id"] for r in json.loads(full)["requirements"] if r["status"] == "failed"]
    assert code == 1  # still failing against the faulty server it was recorded against (not the clean mock)
    assert f"rerun: 0 of {len(failed)} failed requirements now pass" in out
    assert "conformant" not in out.replace("non-conformant", "")
    assert (report / "summary.json").read_text(encoding="utf-8") == full  # the full report is untouched
    assert (report / "badge.svg").read_text(encoding="utf-8") == badge
    rerun = json.loads((report / "rerun" / "summary.json").read_text(encoding="utf-8"))
    assert rerun["target"]["url"] == json.loads(full)["target"]["url"] and rerun["selected"] == failed


def test_a_rerun_against_an_explicit_fixed_target_reports_how_many_now_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r"
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        assert main(["run", "--target", url, "--seed", "5", "--report-dir", str(report), "--quiet", *FAST]) == 1
    failed = [
        r["id"] for r in json.loads((report / "summary.json").read_text())["requirements"] if r["status"] == "failed"
    ]
    capsys.readouterr()
    with mock_thread(MockConfig()) as fixed:
        code = main(["run", "--rerun-failed", "--target", fixed, "--report-dir", str(report), "--quiet", *FAST])
    out = capsys.readouterr().out
    assert code == 0 and f"rerun: {len(failed)} of {len(failed)} failed requirements now pass" in out
    assert "not a verdict on the target" in out
    assert json.loads((report / "summary.json").read_text())["verdict"] == "non-conformant"


def test_a_recorded_target_with_masked_secrets_must_be_given_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r"
    report.mkdir()
    summary = {
        "seed": 3,
        "profile": "smoke",
        "target": {"url": "ws://127.0.0.1:1/v1?api_key=REDACTED", "kind": "live"},
        "requirements": [{"id": "EX-REFLECT", "status": "failed"}],
    }
    (report / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    assert main(["run", "--rerun-failed", "--report-dir", str(report), *FAST]) == 2
    assert "give --target" in capsys.readouterr().err


def test_a_masked_recorded_target_given_again_is_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's own way out of the refusal above: --target with the real URL (it was refused all the same)."""
    report = tmp_path / "r"
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        secret_url = f"{url}?api_key=Kp4Rz8WqLm2XvT6n"
        args = ["--target", secret_url, "--report-dir", str(report), "--quiet", *FAST]
        assert main(["run", "--seed", "5", *args]) == 1
        recorded = json.loads((report / "summary.json").read_text(encoding="utf-8"))["target"]["url"]
        assert "Kp4Rz8WqLm2XvT6n" not in recorded and "REDACTED" in recorded
        capsys.readouterr()
        code = main(["run", "--rerun-failed", *args])
    assert code == 1, capsys.readouterr().err  # run again, and the fault is still there
    assert "failed requirements now pass" in capsys.readouterr().out
