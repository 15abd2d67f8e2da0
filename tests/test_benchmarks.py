"""The benchmark script works (short mode): every figure measured, one JSON line last. Not a gate on speed."""

from __future__ import annotations

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


def test_a_like_for_like_ratio_is_the_median_of_its_back_to_back_pairs() -> None:
    """Each pair's bare and suite runs follow each other, and each pair's own ratio is kept: a machine that drifts
    between pairs moves both sides of a pair. The ratio of the two medians (0.5 here) would carry the drift."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import run as benchmark
    finally:
        sys.path.remove(str(SCRIPT.parent))
    calls: list[str] = []

    def measured(side: str, rates: list[float]) -> Callable[[], float]:
        left = iter(rates)
        return lambda: calls.append(side) or next(left)

    bare, suite = measured("bare", [100.0, 400.0, 200.0]), measured("suite", [60.0, 100.0, 130.0])
    assert benchmark.paired(bare, suite, 3) == (200.0, 100.0, 0.6)
    assert calls == ["bare", "suite"] * 3
