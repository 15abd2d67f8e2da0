"""Certification bundles, verification, baselines and reruns: the certifier's and the release manager's jobs."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.mock import MockConfig, lookup
from conformance.reports.summary import summary_schema
from tests.harness import Result, mock_thread, run_cli

FAST = ["--timeout", "1", "--connect-timeout", "2", "--shrink-budget-s", "0", "--no-html", "--quiet"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["keygen", "--private", str(folder / "k.pem")]) == 0
    return folder / "k.pem", folder / "k.pub.pem"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]) -> Path:
    report = tmp_path_factory.mktemp("cert") / "reports"
    args = ["--profile", "certify", "--connections", "10", "--seed", "8", "--sign-key", str(keys[0])]
    assert run_cli("run", *args, "--report-dir", str(report), *FAST).exit_code == 0
    return report


def unpacked(bundle: Path, tmp_path: Path) -> Path:
    with tarfile.open(bundle / "certificate.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "certificate"


def verify(path: Path, keys: tuple[Path, Path]) -> tuple[int, str]:
    result = run_cli("verify", str(path), "--public-key", str(keys[1]))
    return result.exit_code, result.stdout


def test_a_clean_certified_run_verifies(bundle: Path, keys: tuple[Path, Path]) -> None:
    code, out = verify(bundle / "certificate.tar.gz", keys)
    assert code == 0 and "VERIFIED" in out and "signature valid" in out
    manifest = json.loads((bundle / "certificate" / "manifest.json").read_text())
    assert manifest["profile"] == "certify" and manifest["seed"] == 8 and len(manifest["spec_hash"]) == 64
    assert "transcripts/all.jsonl" in manifest["files"] and "summary.json" in manifest["files"]
    assert manifest["started_at"] and manifest["ended_at"] and "url" in manifest["target"]


@pytest.mark.parametrize("name", ["summary.json", "junit.xml", "transcripts/all.jsonl", "spec/requirements.json"])
def test_editing_one_byte_of_any_file_fails_verification(
    bundle: Path, keys: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    folder = unpacked(bundle, tmp_path)
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    code, out = verify(folder, keys)
    assert code == 1 and f"{name} was modified" in out


def test_removing_a_transcript_fails_verification(bundle: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    folder = unpacked(bundle, tmp_path)
    (folder / "transcripts" / "all.jsonl").unlink()
    code, out = verify(folder, keys)
    assert code == 1 and "transcripts/all.jsonl is listed in the manifest but missing" in out


def test_a_verdict_the_transcripts_do_not_support_fails_even_with_matching_hashes(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = unpacked(bundle, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    summary["verdict"] = "non-conformant"
    (folder / "summary.json").write_text(json.dumps(summary))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["summary.json"] = hashlib.sha256((folder / "summary.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "manifest.sig").unlink()
    code = main(["verify", str(folder), "--allow-unsigned"])
    assert code == 1 and "the transcripts support conformant" in capsys.readouterr().out


def test_without_a_public_key_a_bundle_is_integrity_only_and_not_verified(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Anyone can re-hash a changed bundle and drop its signature: without the key that is not VERIFIED."""
    folder = unpacked(bundle, tmp_path)
    (folder / "manifest.sig").unlink(missing_ok=True)
    assert main(["verify", str(folder)]) == 1
    assert capsys.readouterr().out.startswith("NOT AUTHENTICATED:")
    assert main(["verify", str(folder), "--allow-unsigned"]) == 0
    assert "integrity only, not authenticated" in capsys.readouterr().out


def test_changing_a_requirement_status_fails_verification(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = unpacked(bundle, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    summary["requirements"][0]["status"] = "skipped"
    (folder / "summary.json").write_text(json.dumps(summary))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["summary.json"] = hashlib.sha256((folder / "summary.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "manifest.sig").unlink()
    assert main(["verify", str(folder), "--allow-unsigned"]) == 1
    assert f"summary.json says {summary['requirements'][0]['id']} skipped" in capsys.readouterr().out


def test_a_wrong_key_fails_and_a_tampered_manifest_breaks_the_signature(
    bundle: Path, keys: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--private", str(tmp_path / "other.pem")]) == 0
    capsys.readouterr()
    assert main(["verify", str(bundle / "certificate.tar.gz"), "--public-key", str(tmp_path / "other.pub.pem")]) == 1
    assert "signature does not match" in capsys.readouterr().out
    folder = unpacked(bundle, tmp_path / "x")
    (folder / "manifest.json").write_text((folder / "manifest.json").read_text().replace('"seed": 8', '"seed": 9'))
    code, out = verify(folder, keys)
    assert code == 1 and "signature does not match" in out


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--private", str(tmp_path / "k.pem")]) == 0
    assert main(["keygen", "--private", str(tmp_path / "k.pem")]) == 2
    assert "not overwriting" in capsys.readouterr().err


def test_certify_does_not_certify_a_skipped_must_and_says_why(tmp_path: Path) -> None:
    """No session.created (a SHOULD): its MUSTs cannot be exercised, so the target is not certified (exit 3),
    though it failed no MUST: neither conformant nor non-conformant."""
    with mock_thread(MockConfig(faults=lookup(["no-session-created"]))) as url:
        args = ["--target", url, "--profile", "certify", "--connections", "4", "--seed", "2"]
        result = run_cli("run", *args, "--report-dir", str(tmp_path), *FAST)
    summary = result.summary
    by_id = {r["id"]: r for r in summary["requirements"]}
    assert result.exit_code == 3 and summary["verdict"] == "error" and summary["error"]["kind"] == "uncertified"
    assert by_id["SC-EVENT-ID"]["status"] == "skipped" and "certification" in by_id["SC-EVENT-ID"]["reason"]
    assert by_id["SC-SENT"]["status"] == "failed" and "SC-EVENT-ID (0)" in result.stderr


def baseline_file(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "expected-failures.yaml"
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")
    return path


def test_a_baseline_listing_the_faults_requirement_turns_the_run_green(tmp_path: Path) -> None:
    baseline = baseline_file(
        tmp_path,
        [{"id": "EX-REFLECT", "reason": "tools are dropped, vendor ticket 42", "link": "https://tracker.example/42"}],
    )
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        result = run_cli(
            "run", "--target", url, "--expected-failures", str(baseline), "--report-dir", str(tmp_path / "r"), *FAST
        )
    summary = result.summary
    assert result.exit_code == 0 and summary["verdict"] == "conformant"
    assert summary["baseline"]["expected"] == ["EX-REFLECT"] and summary["baseline"]["unexpected"] == []
    assert "EX-REFLECT" in (tmp_path / "r" / "summary.md").read_text()


def test_the_same_baseline_against_the_clean_mock_reports_the_fix_and_fails_when_strict(tmp_path: Path) -> None:
    baseline = baseline_file(tmp_path, [{"id": "EX-REFLECT", "reason": "tools are dropped"}])
    args = ["run", "--expected-failures", str(baseline), "--report-dir", str(tmp_path / "r"), *FAST]
    result = run_cli(*args)
    assert result.exit_code == 0 and result.summary["baseline"]["fixed"] == ["EX-REFLECT"]
    assert main([*args, "--strict-baseline"]) == 1


def test_an_expired_entry_no_longer_excuses_and_fails_a_strict_baseline(tmp_path: Path) -> None:
    baseline = baseline_file(tmp_path, [{"id": "EX-REFLECT", "reason": "old", "expires": "2020-01-01"}])
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        result = run_cli(
            "run", "--target", url, "--expected-failures", str(baseline), "--report-dir", str(tmp_path / "r"), *FAST
        )
    summary = result.summary
    assert result.exit_code == 1 and summary["baseline"]["expired"] == ["EX-REFLECT"]
    assert summary["baseline"]["unexpected"] == ["EX-REFLECT"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- id: NOPE-X\n  reason: r\n", "not a requirement ID"),
        ("- id: EX-REFLECT\n", "needs a reason"),
        ("{", "not valid YAML"),
        ("- id: EX-REFLECT\n  reason: r\n  expires: soon\n", "YYYY-MM-DD"),
    ],
)
def test_a_bad_baseline_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(content)
    assert main(["run", "--expected-failures", str(path), "--report-dir", str(tmp_path), *FAST]) == 2
    assert message in capsys.readouterr().err


def test_rerun_failed_runs_only_what_failed_with_the_same_seed(tmp_path: Path) -> None:
    report = tmp_path / "r"
    with mock_thread(MockConfig(faults=lookup(["drops-tools"]))) as url:
        full = run_cli("run", "--target", url, "--seed", "77", "--report-dir", str(report), *FAST)
        assert full.exit_code == 1
        first = full.summary
        rerun = run_cli("run", "--rerun-failed", "--report-dir", str(report), *FAST)
        assert rerun.exit_code == 1  # the recorded target
    second = Result(rerun.exit_code, report / "rerun").summary
    assert json.loads((report / "summary.json").read_text()) == first  # the full report stays
    failed = [r["id"] for r in first["requirements"] if r["status"] == "failed"]
    assert [r["id"] for r in second["requirements"]] == failed == ["EX-REFLECT"]
    assert second["seed"] == 77 and second["selected"] == failed
    assert (report / "rerun" / "junit.xml").read_text().count("<testcase") == 1


def test_ci_outputs_badge_markdown_and_junit_prefix(tmp_path: Path) -> None:
    assert main(["run", "--report-dir", str(tmp_path), "--junit-prefix", "staging", *FAST]) == 0
    badge = (tmp_path / "badge.svg").read_text()
    total = len(load_contract().ids)
    assert badge.startswith("<svg") and f"conformant {total}/{total}" in badge
    assert 'classname="staging.' in (tmp_path / "junit.xml").read_text()
    assert (tmp_path / "summary.md").read_text().startswith("## ✅ Realtime API conformance: conformant")


def test_verify_a_missing_bundle_exits_2(tmp_path: Path) -> None:
    assert main(["verify", str(tmp_path / "none.tar.gz")]) == 2


def test_bundle_folder_and_archive_hold_the_same_files(bundle: Path, tmp_path: Path) -> None:
    folder = unpacked(bundle, tmp_path)
    listed = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    original = sorted(
        p.relative_to(bundle / "certificate").as_posix() for p in (bundle / "certificate").rglob("*") if p.is_file()
    )
    assert listed == original
    shutil.rmtree(folder)


def test_each_requirement_of_a_certificate_cites_an_upstream_url_or_says_it_has_none(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL only where the source document names one (the seed page's header); the project's notes name none,
    and the certificate, `requirements` and the summary say so with the section, never leaving it blank."""
    contract = load_contract()
    summary = json.loads((unpacked(bundle, tmp_path) / "summary.json").read_text(encoding="utf-8"))
    assert not list(Draft202012Validator(summary_schema()).iter_errors(summary))  # a source and citation each
    cited = {r["id"]: r["source"] for r in summary["requirements"]}
    assert set(cited) == set(contract.ids)
    for requirement in contract.requirements:
        source = cited[requirement.id]
        assert source["section"] and source["section"] in source["citation"], requirement.id
        if requirement.source.document == "spec-notes":
            assert "url" not in source and source["citation"].startswith("no upstream URL: project notes")
        else:
            assert source["url"].startswith("https://") and source["url"] in source["citation"]
    assert main(["requirements"]) == 0
    listed = capsys.readouterr().out
    for requirement in contract.requirements:
        assert f"{requirement.id}  " in listed and requirement.source.citation in listed


def rehashed(folder: Path, name: str, data: bytes) -> None:
    """`name` replaced by `data`, the manifest re-hashed and the signature dropped (as anyone can)."""
    (folder / name).write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "manifest.sig").unlink(missing_ok=True)


def test_a_requirement_the_catalogue_does_not_have_fails_verification(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = unpacked(bundle, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    summary["requirements"].append({**summary["requirements"][0], "id": "XX-CERTIFIED-BY-US", "status": "passed"})
    rehashed(folder, "summary.json", json.dumps(summary).encode())
    assert main(["verify", str(folder), "--allow-unsigned"]) == 1
    assert "summary.json lists XX-CERTIFIED-BY-US" in capsys.readouterr().out


@pytest.mark.parametrize("transcripts", [b"not a transcript\n", b'{"direction": "server", "time": -1, "text": "{}"}\n'])
def test_transcripts_that_cannot_be_judged_fail_verification_whatever_the_summary_says(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], transcripts: bytes
) -> None:
    """Only a file with no frame is what a run that ended before its first connection leaves: anything else
    in it is judged (a summary saying `error` let any file through, re-judging nothing)."""
    folder = unpacked(bundle, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    summary |= {"verdict": "error", "error": {"kind": "unreachable", "message": "no handshake"}}
    rehashed(folder, "summary.json", json.dumps(summary).encode())
    rehashed(folder, "transcripts/all.jsonl", transcripts)
    assert main(["verify", str(folder), "--allow-unsigned"]) == 1
    assert "transcripts/all.jsonl cannot be judged" in capsys.readouterr().out
