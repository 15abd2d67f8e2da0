"""The test session's fixtures; the helpers tests share are in tests/harness.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from conformance.generate.corpus import _no_local_constants

# Re-exported so that a branch still importing these from tests.conftest merges; import them from tests.harness.
from tests.harness import FAST, LATE_S, ServerThread, judged, mock_thread, run, scripted_against, seeds

__all__ = ["FAST", "LATE_S", "ServerThread", "judged", "mock_thread", "run", "scripted_against", "seeds"]


#: xdist's workers for `-n auto`, half again as many as CPUs: the tests wait (out timeouts, slow servers,
#: listening out) about 60% of their time, so with one worker a CPU two cores stood 60% idle through a
#: 22-minute CI run. Two a CPU took 14 minutes, but squeezed each worker to half a core at peaks: an
#: in-process server's answers were then stamped a second late (our own stalls, not the server's), and
#: a 0.5 s timeout failed a conforming mock. The cap keeps a large machine's workers in bounds.
MAX_WORKERS = 16


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: 3 workers for 2 usable CPUs, and so on; PYTEST_XDIST_AUTO_NUM_WORKERS or `-n N` still choose."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MAX_WORKERS, usable + usable // 2)


@pytest.fixture(autouse=True, scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Drawn corpora go to a folder of this test session, not the user's cache."""
    previous = os.environ.get("REALTIME_CONFORMANCE_CACHE")
    os.environ["REALTIME_CONFORMANCE_CACHE"] = str(tmp_path_factory.mktemp("corpus"))
    yield
    if previous is None:
        del os.environ["REALTIME_CONFORMANCE_CACHE"]
    else:
        os.environ["REALTIME_CONFORMANCE_CACHE"] = previous


@pytest.fixture
def reproducible_draws() -> Iterator[None]:
    """Hypothesis draws that depend on the test's seed alone. A derandomized test that counts what its draws hold
    needs them: Hypothesis otherwise mixes in literals from whichever local modules the process imported, so the
    same test drew other events in an xdist worker of the whole suite than when run alone (and once found none of
    what it counts)."""
    with _no_local_constants():
        yield
