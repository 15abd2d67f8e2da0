"""A pytest plugin that plants a bug in the first xdist worker: its third connection raises.

Loaded with `realtime-conformance run --workers 2 --xdist-option=-p --xdist-option=tests.worker_bug`,
so a test can prove that a worker's failure shows its traceback (exit 4) and keeps what ran.
"""

from __future__ import annotations

import os
from typing import Any

import conformance.run.runner

PLANTED = "a bug planted by tests/worker_bug.py"

if os.environ.get("PYTEST_XDIST_WORKER") == "gw0":
    original = conformance.run.runner.run_connection
    calls = {"count": 0}

    async def run_connection(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        if calls["count"] == 3:
            raise RuntimeError(PLANTED)
        return await original(*args, **kwargs)

    conformance.run.runner.run_connection = run_connection  # type: ignore[assignment]
