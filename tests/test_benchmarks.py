"""The benchmark script works (short mode): every figure measured, one JSON line last. Not a gate on speed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
FIGURES = {
    "bare_rps",
    "exchange_rps",
    "exchange_ratio",
    "generation_cps",
    "schemathesis_cps",
    "generation_ratio",
    "suite_cps",
    "st_run_cps",
    "suite_ratio",
    "check_ratio",
    "smoke_wall_s",
    "smoke_peak_mib",
    "full_wall_s",
    "full_peak_mib",
    "growth_s",
    "growth_ratio",
    "missed",
    # like for like, and the waits (slow and silent targets, listening out, time to find a fault)
    "exchange_ratio_1",
    "exchange_ratio_4",
    "mock_cost_ratio",
    "check_ratio_rs_valid",
    "check_ratio_rs_invalid",
    "first_violation_median_s",
    "first_violation_worst_s",
    "silent_concurrency_ratio",
    "listen_out_full_extra_s",
    "slow_targets_worst_wall_s",
}
#: Figures that may be zero or negative (a difference of two noisy walls), or are not numbers.
NOT_POSITIVE = {"growth_s", "missed", "listen_out_full_extra_s"}


def test_benchmark_short_mode_measures_every_figure() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--short"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) >= FIGURES
    assert figures["mode"] == "short"
    assert all(figures[k] > 0 for k in FIGURES - NOT_POSITIVE)
    assert figures["first_violation_missed"] == []  # every fault's requirement was found
    assert "exchange_ratio" in done.stdout.splitlines()[0] or "figure" in done.stdout.splitlines()[0]


def test_a_like_for_like_ratio_is_the_median_of_its_rounds_own_ratios() -> None:
    """Each round's runs follow each other, each round starting with the next side, and each round's own ratio is
    kept: a machine that drifts between rounds moves both sides of a round. The ratio of the two medians (0.5
    here) would carry the drift."""
    spec = importlib.util.spec_from_file_location("benchmarks_run", SCRIPT)
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    calls: list[str] = []

    def measured(side: str, rates: list[float]) -> Callable[[], float]:
        left = iter(rates)
        return lambda: calls.append(side) or next(left)

    bare, suite = measured("bare", [100.0, 400.0, 200.0]), measured("suite", [60.0, 100.0, 130.0])
    runs = benchmark.rounds({"bare": bare, "suite": suite}, 3)
    assert calls == ["bare", "suite", "suite", "bare", "bare", "suite"]
    assert runs == [{"bare": 100.0, "suite": 60.0}, {"suite": 100.0, "bare": 400.0}, {"bare": 200.0, "suite": 130.0}]
    assert benchmark.median_ratio(runs, "suite", "bare") == 0.6
