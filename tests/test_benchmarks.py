"""The benchmark script works (short mode): every figure measured, one JSON line last. Not a gate on speed."""

from __future__ import annotations

import json
import subprocess
import sys
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
}


def test_benchmark_short_mode_measures_every_figure() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--short"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) >= FIGURES
    assert figures["mode"] == "short"
    assert all(figures[k] > 0 for k in FIGURES - {"growth_s", "missed"})
    assert "exchange_ratio" in done.stdout.splitlines()[0] or "figure" in done.stdout.splitlines()[0]
