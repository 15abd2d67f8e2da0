"""Parallel runs give the serial verdict: --concurrency (asyncio) and --workers (pytest-xdist)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.generate.corpus import generated_plans
from conformance.mock import MockConfig, lookup
from tests.harness import mock_thread, run_cli

COMMON = [
    "--profile",
    "full",
    "--connections",
    "12",
    "--seed",
    "31",
    "--timeout",
    "1",
    "--shrink-budget-s",
    "0",
    "--no-html",
    "--quiet",
]


def results(summary: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    return [(r["id"], r["status"], r["exchanges"], len(r["violations"])) for r in summary["requirements"]]


def run(tmp_path: Path, name: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("run", "--report-dir", str(tmp_path / name), *COMMON, *args)
    return result.exit_code, result.summary


@pytest.mark.parametrize("fault", [None, "drops-tools", "never-answers"])
def test_concurrency_and_workers_give_the_serial_results(tmp_path: Path, fault: str | None) -> None:
    config = MockConfig(faults=lookup([fault]) if fault else ())
    # a target that never answers has no answer to come late: every update waits out the timeout, kept short
    waits = ["--timeout", "0.3"] if fault == "never-answers" else []
    with mock_thread(config) as url:
        serial = run(tmp_path, "serial", "--target", url, "--concurrency", "1", *waits)
        concurrent = run(tmp_path, "concurrent", "--target", url, "--concurrency", "4", *waits)
        workers = run(tmp_path, "workers", "--target", url, "--workers", "2", *waits)
    assert serial[0] == concurrent[0] == workers[0] == (1 if fault else 0)
    assert results(serial[1]) == results(concurrent[1]) == results(workers[1])
    assert serial[1]["verdict"] == concurrent[1]["verdict"] == workers[1]["verdict"]
    assert serial[1]["counts"] == concurrent[1]["counts"] == workers[1]["counts"]


def test_workers_write_one_merged_junit_and_allure_report(tmp_path: Path) -> None:
    code, summary = run(tmp_path, "w", "--workers", "2")
    report = tmp_path / "w"
    assert code == 0 and summary["verdict"] == "conformant"
    assert (report / "junit.xml").read_text().count("<testcase") == len(summary["requirements"])
    assert len(list((report / "allure-results").glob("*-result.json"))) == len(summary["requirements"])


def plans_hash(seed: int) -> str:
    return hashlib.sha256(json.dumps([p.updates for p in generated_plans(seed, 15)]).encode()).hexdigest()


def test_a_seed_draws_the_same_exchanges_in_any_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under pytest, in a worker, or in a bare interpreter: the seed alone decides what is drawn."""
    monkeypatch.setenv("REALTIME_CONFORMANCE_CACHE", "off")  # draw, here and there: no corpus to share
    generated_plans.cache_clear()
    here = plans_hash(77)
    code = (
        "import hashlib, json; from conformance.generate.corpus import generated_plans; "
        "print(hashlib.sha256(json.dumps([p.updates for p in generated_plans(77, 15)]).encode()).hexdigest())"
    )
    there = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
        env={**os.environ, "REALTIME_CONFORMANCE_CACHE": "off"},
    )
    assert there.stdout.strip() == here
    assert plans_hash(78) != here


def test_the_corpus_cache_replays_exactly_what_was_drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME_CONFORMANCE_CACHE", str(tmp_path))
    generated_plans.cache_clear()
    drawn = tuple(generated_plans(5, 6))
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    generated_plans.cache_clear()
    assert tuple(generated_plans(5, 6)) == drawn
    corpus = next(tmp_path.glob("*.jsonl"))
    corpus.write_text("not json")  # a damaged corpus is drawn again, not trusted
    generated_plans.cache_clear()
    assert tuple(generated_plans(5, 6)) == drawn
    lines = corpus.read_text().splitlines(keepends=True)
    corpus.write_text("".join(lines[:-1]))  # cut short: fewer lines than its header counts
    generated_plans.cache_clear()
    assert tuple(generated_plans(5, 6)) == drawn
