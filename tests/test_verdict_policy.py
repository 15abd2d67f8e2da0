"""One verdict policy: run, verify and validate reach the same verdict over the same transcripts.

Before `conformance.verdict`, each had its own copy of the policy: validate knew only --strict (no
certification, no baseline, no incompleteness), and verify defaulted min_exercised to 1. Now the run
writes its `Policy` into summary.json and the other two apply exactly that value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.checks import Judgement, Violation
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.mock import MockConfig, lookup
from conformance.verdict import Policy, PolicyError, decide, shortfall
from conformance.verdict.baseline import Expected
from tests.harness import mock_thread, run_cli

FAST = ["--timeout", "1", "--connect-timeout", "2", "--shrink-budget-s", "0", "--no-html", "--quiet"]
CONTRACT = load_contract()
EXIT = {"conformant": 0, "non-conformant": 1, "error": 3}


def every_must_exercised(times: int) -> Judgement:
    return Judgement(exercised=Counter({r.id: times for r in CONTRACT.requirements}))


def a_must() -> str:
    return next(r.id for r in CONTRACT.requirements if r.level == "MUST")


# --- the pure policy ---------------------------------------------------------------------------


def test_certification_does_not_certify_a_thinly_exercised_must_and_without_it_the_same_judgement_passes() -> None:
    """Too little evidence is the suite's shortfall: not certified (`error`, exit 3), never non-conformant."""
    judgement = every_must_exercised(2)
    thin = decide(CONTRACT, judgement, Policy(certification=True, min_exercised=3))
    assert thin.verdict == "error" and not [r for r in thin.results if r.status == "failed"]
    short = [r.requirement.id for r in thin.results if r.short_of_certification]
    assert short == [r.id for r in CONTRACT.requirements if r.level == "MUST"]
    line = shortfall(thin.results, 3) or ""
    assert f"{len(short)} MUST requirement(s) were exercised fewer than 3 times" in line
    assert "more --connections" in line and "never had occasion" not in line
    # none at all: the target gave no occasion, which more connections would not change
    none = decide(CONTRACT, every_must_exercised(0), Policy(certification=True, min_exercised=3))
    assert none.verdict == "error"
    line = shortfall(none.results, 3) or ""
    assert "never had occasion" in line and "more --connections" not in line
    assert decide(CONTRACT, judgement, Policy(certification=True, min_exercised=2)).verdict == "conformant"
    assert decide(CONTRACT, judgement, Policy(certification=False, min_exercised=3)).verdict == "conformant"
    # a failure of the target's own stays a failure: non-conformant, however thin the rest
    failing = replace(judgement, violations=(Violation(a_must(), "session", "broken"),))
    assert decide(CONTRACT, failing, Policy(certification=True, min_exercised=3)).verdict == "non-conformant"


def test_an_incomplete_run_is_never_conformant_and_not_certified() -> None:
    decision = decide(CONTRACT, every_must_exercised(1), Policy(certification=True, min_exercised=3), "interrupted")
    assert decision.verdict == "error"
    assert all(r.status == "passed" for r in decision.results)  # certification did not fail them


def test_a_stale_baseline_fails_even_an_incomplete_run_that_ran_nothing() -> None:
    """verify used to call this `error` (no transcripts), the run `non-conformant`."""
    rid = a_must()
    judgement = Judgement(exercised=Counter({rid: 1}))
    policy = Policy(expected_failures=(rid,), strict_baseline=True)
    assert decide(CONTRACT, judgement, policy, "interrupted").verdict == "non-conformant"


def test_the_baseline_excuses_only_what_had_not_expired_on_the_run_date() -> None:
    rid = a_must()
    entries = [Expected(rid, "vendor ticket", dt.date(2030, 1, 1))]
    judgement = replace(every_must_exercised(3), violations=(Violation(rid, "session", "broken"),))
    before = Policy.resolve(
        strict=False,
        certification=False,
        min_exercised=3,
        selected=None,
        baseline=entries,
        baseline_file="b.yaml",
        strict_baseline=False,
        today=dt.date(2029, 12, 31),
    )
    after = Policy(**{**before.__dict__, "expected_failures": (), "expired": (rid,)})
    assert before.expected_failures == (rid,) and before.expired == ()
    decided = decide(CONTRACT, judgement, before)
    assert decided.verdict == "conformant" and decided.baseline is not None and decided.baseline.expected == (rid,)
    assert decide(CONTRACT, judgement, after).verdict == "non-conformant"


def test_a_policy_survives_its_json_and_a_wrong_shape_is_named() -> None:
    policy = Policy(True, True, 5, ("SU-TYPE",), ("EX-REFLECT",), ("SU-SESSION",), True, "b.yaml")
    assert Policy.from_json(json.loads(json.dumps(policy.to_json()))) == policy
    with pytest.raises(PolicyError, match="min_exercised"):
        Policy.from_json({**policy.to_json(), "min_exercised": "3"})
    with pytest.raises(PolicyError, match="required"):
        Policy.from_json({"strict": True})


# --- run, verify and validate over the same transcripts -----------------------------------------


def certified_run(report: Path, faults: list[str], *more: str) -> int:
    with mock_thread(MockConfig(faults=lookup(faults))) as url:
        args = ["run", "--target", url, "--profile", "certify", "--connections", "10", "--seed", "8"]
        return run_cli(*args, "--report-dir", str(report), *FAST, *more).exit_code


def verdict_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("verdict: ")).split()[1]


CASES = {
    # validate knew no certification: it called this conformant
    # (too little evidence is the suite's shortfall: not certified, exit 3, never the target's failure)
    "certification needs more exercise than the run gave": ([], ["--min-exercised", "1000"], "error"),
    # validate knew no baseline: it called this non-conformant
    "a baseline excuses the fault": (["drops-tools"], ["--expected-failures", "BASELINE"], "conformant"),
}


@pytest.mark.parametrize(("faults", "more", "verdict"), CASES.values(), ids=CASES.keys())
def test_run_verify_and_validate_reach_the_same_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], faults: list[str], more: list[str], verdict: str
) -> None:
    baseline = tmp_path / "expected-failures.yaml"
    baseline.write_text(yaml.safe_dump([{"id": "EX-REFLECT", "reason": "tools are dropped"}]), encoding="utf-8")
    report = tmp_path / "r"
    code = certified_run(report, faults, *[str(baseline) if m == "BASELINE" else m for m in more])
    summary = json.loads((report / "summary.json").read_text())
    assert (code, summary["verdict"]) == (EXIT[verdict], verdict)
    assert Policy.from_json(summary["policy"]).certification
    capsys.readouterr()

    all_jsonl = str(report / "transcripts" / "all.jsonl")
    assert main(["validate", all_jsonl, "--policy", str(report / "summary.json")]) == code
    assert verdict_line(capsys.readouterr().out) == verdict
    # without the run's policy, validate judges another question and (here) answers differently
    assert main(["validate", all_jsonl]) != code
    capsys.readouterr()

    assert main(["verify", str(report / "certificate.tar.gz"), "--allow-unsigned"]) == 0
    assert f"re-judged offline: {verdict}" in capsys.readouterr().out


def test_a_certified_run_too_thin_to_certify_says_so_in_one_line_and_exits_3(tmp_path: Path) -> None:
    report = tmp_path / "r"
    with mock_thread(MockConfig()) as url:
        args = ["run", "--target", url, "--profile", "certify", "--connections", "2", "--seed", "1"]
        result = run_cli(*args, "--min-exercised", "1000", "--report-dir", str(report), *FAST)
    summary = json.loads((report / "summary.json").read_text())
    assert (result.exit_code, summary["verdict"], summary["error"]["kind"]) == (3, "error", "uncertified")
    assert not [r for r in summary["requirements"] if r["status"] == "failed"]
    lines = [line for line in result.stderr.splitlines() if "not certified" in line]
    assert len(lines) == 1 and "fewer than 1000 times" in lines[0] and "--connections" in lines[0]
    assert "not certified" in (report / "summary.md").read_text(encoding="utf-8")


def test_a_tampered_policy_is_caught_by_the_hash_the_signature_and_the_re_judging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "k.pem"
    assert main(["keygen", "--private", str(keys)]) == 0
    report = tmp_path / "r"
    assert certified_run(report, [], "--min-exercised", "1000", "--sign-key", str(keys)) == 3
    folder = report / "certificate"
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["policy"]["min_exercised"] = 1  # the run would then have been conformant
    summary_path.write_text(json.dumps(summary))
    capsys.readouterr()

    assert main(["verify", str(folder), "--public-key", str(tmp_path / "k.pub.pem")]) == 1
    assert "summary.json was modified" in capsys.readouterr().out

    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["summary.json"] = hashlib.sha256(summary_path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    assert main(["verify", str(folder), "--public-key", str(tmp_path / "k.pub.pem")]) == 1
    assert "signature does not match" in capsys.readouterr().out

    # unsigned and re-hashed: verify applies the policy it finds, which the recorded results contradict
    (folder / "manifest.sig").unlink()
    assert main(["verify", str(folder), "--allow-unsigned"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("NOT VERIFIED: summary.json says") and "but the transcripts show it passed" in out


def test_validate_refuses_strict_with_a_policy_and_a_summary_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript = tmp_path / "empty.jsonl"
    transcript.write_text(json.dumps({"direction": "server", "time": 0.0, "text": "{}"}) + "\n")
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"verdict": "conformant"}))
    assert main(["validate", str(transcript), "--policy", str(summary)]) == 2
    assert "policy is malformed" in capsys.readouterr().err
    summary.write_text(json.dumps({"policy": Policy().to_json()}))
    assert main(["validate", str(transcript), "--policy", str(summary), "--strict"]) == 2
    assert "--strict and --policy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"error": "boom"}, "(its error) at the top level"),  # each of these three was a traceback
        ({"error": {"kind": 3, "message": "x"}}, "(its error) at kind"),
        ({"policy": {**Policy().to_json(), "selected": []}}, "at selected: [] should be non-empty"),
        ({"policy": {**Policy().to_json(), "selected": ["NOPE"]}}, "at selected: NOPE not in the yandex catalogue"),
    ],
)
def test_validate_with_a_summary_it_cannot_apply_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], summary: dict[str, Any], expected: str
) -> None:
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(json.dumps({"direction": "server", "time": 0.0, "text": "{}"}) + "\n")
    (tmp_path / "summary.json").write_text(json.dumps({"policy": Policy().to_json()} | summary))
    assert main(["validate", str(transcript), "--policy", str(tmp_path / "summary.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "policy is malformed" in err and expected in err, err
