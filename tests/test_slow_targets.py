"""Slow and silent targets: overlapping the waits across connections never changes a verdict.

Four servers, written here over the reference mock's protocol logic, each misbehave in one way
that costs the suite waiting: (a) every answer comes late (within the timeout), (b) an update it
rejects is never answered, (c) every answer is a binary frame, (d) every answer has the wrong
event type. Each is run with the CLI's default scheduling against a live target (many connections
at once; a loopback target has no default rate) and its verdict and every requirement's status
must equal those of the reference: the same server driven one connection at a time, or for (a)
the same server answering at once. The
timeouts and the delay are scaled down so CI stays fast; `benchmarks/run.py` measures the same
servers with the default settings (`slow_targets_wall_s`, target: under two minutes).

Seeds 1 to 3 by default; RC_SEEDS=1-10 sweeps ten.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.mock import DEFAULT_MODEL
from conformance.mock.session import Send, SendBinary, Sleep
from tests.harness import ServerThread, documented, run_cli, seeds, serving

QUIET = ["--shrink-budget-s", "0", "--no-html", "--quiet"]
TIMEOUT_S = 0.4  # scaled down from the default 5 s
SILENT_TIMEOUT_S = 0.25  # every silent connection waits it out once: the serial reference pays it ~90 times
DELAY_S = 0.15  # scaled down from 1.5 s: still well inside the timeout


def slow(delay_s: float) -> Callable[[str], list[Any]]:
    """(a) Answers every update, correctly, after `delay_s`."""

    def answer(text: str) -> list[Any]:
        return [Sleep(delay_s), Send(text)] if delay_s else [Send(text)]

    return answer


def silent_on_rejections(text: str) -> list[Any]:
    """(b) Never answers an update it rejects."""
    return [] if json.loads(text)["type"] == "error" else [Send(text)]


def binary_answers(text: str) -> list[Any]:
    """(c) Answers with the right JSON, in a binary frame."""
    return [SendBinary(text.encode())]


def wrong_type(text: str) -> list[Any]:
    """(d) Answers with the right content under another event type."""
    event = json.loads(text)
    event["type"] = f"{event['type']}.ack"
    return [Send(json.dumps(event))]


def server(answer: Callable[[str], list[Any]]) -> contextlib.AbstractAsyncContextManager[str]:
    """The mock's protocol logic, its answers to updates passed through `answer` (the misbehaviour)."""
    return serving(documented(answer), f"/realtime?model={DEFAULT_MODEL}", compression=None)


def run_against(
    answer: Callable[[str], list[Any]], seed: int, report: Path, *extra: str, timeout_s: float = TIMEOUT_S
) -> tuple[int, dict[str, Any]]:
    with ServerThread(lambda: server(answer)) as url:
        args = ["--target", url, "--profile", "full", "--connections", "4", "--seed", str(seed)]
        result = run_cli("run", *args, "--timeout", str(timeout_s), "--report-dir", str(report), *QUIET, *extra)
    return result.exit_code, result.summary


def statuses(summary: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["status"] for r in summary["requirements"]}


SILENT = {"silent-on-rejections": silent_on_rejections, "binary-answers": binary_answers, "wrong-type": wrong_type}


@pytest.mark.parametrize("seed", seeds())
def test_a_server_answering_late_within_the_timeout_gets_the_verdict_of_one_answering_at_once(
    seed: int, tmp_path: Path
) -> None:
    fast_code, fast = run_against(slow(0.0), seed, tmp_path / "fast")
    started = time.monotonic()
    slow_code, late = run_against(slow(DELAY_S), seed, tmp_path / "slow")
    elapsed = time.monotonic() - started
    assert fast_code == slow_code == 0, [r["id"] for r in late["requirements"] if r["status"] == "failed"]
    assert statuses(late) == statuses(fast)
    assert late["counts"]["exchanges"] == fast["counts"]["exchanges"]
    # one at a time, the delay alone would cost DELAY_S per update; overlapped, a small share of it
    assert elapsed < late["counts"]["exchanges"] * DELAY_S / 3


@pytest.mark.parametrize("seed", seeds())
@pytest.mark.parametrize("name", sorted(SILENT))
def test_a_silent_server_gets_the_verdict_of_its_serial_run(name: str, seed: int, tmp_path: Path) -> None:
    started = time.monotonic()
    code, overlapped = run_against(SILENT[name], seed, tmp_path / "overlapped", timeout_s=SILENT_TIMEOUT_S)
    elapsed = time.monotonic() - started
    serial_started = time.monotonic()
    serial_code, serial = run_against(
        SILENT[name], seed, tmp_path / "serial", "--concurrency", "1", timeout_s=SILENT_TIMEOUT_S
    )
    serial_elapsed = time.monotonic() - serial_started
    assert code == serial_code == 1
    assert statuses(overlapped) == statuses(serial)
    assert "failed" in statuses(serial).values()
    assert overlapped["counts"]["exchanges"] == serial["counts"]["exchanges"]
    assert elapsed < serial_elapsed / 2


def test_a_time_budget_ends_the_run_in_time_and_says_what_was_not_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget_s = 3.0
    started = time.monotonic()
    code, summary = run_against(slow(DELAY_S), 1, tmp_path, "--concurrency", "1", "--budget-s", str(budget_s))
    elapsed = time.monotonic() - started
    assert code == 3 and summary["verdict"] == "error"  # what was not tested is never called conformant
    assert summary["not_reached"]["connections"] > 0 and summary["not_reached"]["updates"] > 0
    assert "not opened" in summary["error"]["message"]
    assert "time budget" in capsys.readouterr().err
    # the budget bounds the exchanges; the process start and the report come on top
    assert elapsed < budget_s + 3
    assert summary["counts"]["exchanges"] > 0


def test_a_budgeted_run_accounts_for_every_planned_update_and_ends_within_it() -> None:
    """Each planned update is either sent or counted as not reached; no update is sent that could not
    be heard out (answer and listening out) before the budget ends."""
    from conformance.generate import scripted_plans
    from conformance.run.runner import Politeness, Target, run_plans
    from conformance.wire.transport import Limits

    plans = scripted_plans() * 5  # at 0.05 s an answer, one at a time: about 3 s of exchanges
    budget_s, answer_s = 1.5, 0.3

    async def budgeted() -> tuple[float, Any]:
        async with server(slow(0.05)) as url:
            target = Target(
                url, limits=Limits(answer_s=answer_s, close_s=0.2), politeness=Politeness(budget_s=budget_s)
            )
            started = time.monotonic()
            log = await run_plans(plans, target, concurrency=1)
            return time.monotonic() - started, log

    elapsed, log = asyncio.run(asyncio.wait_for(budgeted(), 30))
    planned = sum(len(plan.updates) for plan in plans)
    assert 0 < log.exchanges < planned and log.unreached_connections > 0
    assert log.exchanges + log.unsent_updates == planned  # every update is answered: nothing is abandoned
    assert len(log.transcripts) + log.unreached_connections == len(plans)
    assert "time budget" in (log.stopped or "") and f"{log.unsent_updates} planned updates" in (log.stopped or "")
    assert elapsed <= budget_s + 0.2  # the close bound is the only slack
