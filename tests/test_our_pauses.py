"""Our own pauses are never a target's lateness.

While an answer is on its way, our process may stop reading (a collection, a C call holding the GIL,
a starved CPU on a loaded CI runner): the answer is read late, though it arrived in time. Each frame
keeps, beside the time it was read, the earliest it may have arrived (conformance.wire.arrival), so such
a pause never fails a conforming target, and a target that answers later than the timeout still fails.
The servers here run on a thread of their own (a process apart, for what matters: the pauses are sleeps
in the suite's event loop, which leave the GIL to them, or a C call on another thread, which holds it);
in the runs, the pauses are placed at random after sends, per seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.checks import judge
from conformance.contract import load_contract
from conformance.generate.plan import Plan
from conformance.mock import DEFAULT_MODEL
from conformance.mock.session import Send, Sleep
from conformance.run import shard
from conformance.run.connection import run_connection
from conformance.run.runner import Target
from conformance.transcript import Frame, Transcript
from conformance.wire import transport
from conformance.wire.arrival import new_loop
from conformance.wire.recording import Recorder
from conformance.wire.transport import Closed, ConnectFailed, Session, Timeout, open_session
from tests.harness import FAST, Reply, ServerThread, as_documented, documented, event_of, run_cli, seeds, serving

TIMEOUT_S = 0.4
PAUSE_S = 0.6  # longer than the timeout: an answer read after it is read late
PAUSES = 4  # per run, after sends drawn at random
LATE_S = 1.0  # a late server's answers: later than the timeout, and than our pause
QUIET = ["--profile", "full", "--connections", "4", "--shrink-budget-s", "0", "--no-html", "--quiet"]


#: A server in a process of its own (our pauses, a GIL held included, cannot delay it): answers each message
#: after DELAY seconds with an event padded to SIZE bytes; prints its URL.
ANSWERING = """
import asyncio, json, sys
from websockets.asyncio.server import serve
delay, size = float(sys.argv[1]), int(sys.argv[2])
answer = json.dumps({"type": "answer", "padding": "x" * size})
async def handle(ws):
    async for _ in ws:
        await asyncio.sleep(delay)
        await ws.send(answer)
async def main():
    async with serve(handle, "127.0.0.1", 0, ping_interval=None, compression=None, max_size=None) as server:
        print(f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


@contextlib.contextmanager
def answering_after(delay_s: float, size: int = 0) -> Iterator[str]:
    """`ANSWERING` in its own process; yields its URL."""
    command = [sys.executable, "-c", ANSWERING, str(delay_s), str(size)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait(10)


@functools.cache
def sums_a_second() -> int:
    """How far `sum(range(n))` goes in a second here: one C call that holds the GIL throughout."""
    count = 5_000_000
    started = time.monotonic()
    sum(range(count))
    return int(count / max(time.monotonic() - started, 1e-3))


def bounds(
    url: str, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None, pause: Callable[[], None] | None
) -> tuple[float, float]:
    """From one send to its answer: the earliest it may have arrived, and when it was read; `pause` is run
    right after the send, in the loop (a blocking call: nothing is read meanwhile) or on a thread."""

    async def exchange() -> tuple[float, float]:
        session = await open_session(url, limits=FAST)
        assert not isinstance(session, ConnectFailed), session
        sent = await session.send("{}")
        if pause is not None:
            asyncio.get_running_loop().call_soon(pause)
        answer = await session.receive(5.0)
        await session.close()
        assert isinstance(sent, Frame) and isinstance(answer, Frame), answer
        return answer.earliest_time - sent.time, answer.time - sent.time

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(exchange())


def sleeping(seconds: float) -> Callable[[], None]:
    return lambda: time.sleep(seconds)


def on_a_thread(seconds: float) -> Callable[[], None]:
    """Once our loop waits on its poll, another thread holds the GIL for `seconds`: when the answer wakes the
    poll, the loop cannot take the wake-up until then (a starved thread is woken late)."""
    count = int(seconds * sums_a_second())

    def hold() -> None:
        time.sleep(0.05)  # the GIL left to the loop, which goes on to wait for the answer
        sum(range(count))

    return lambda: threading.Thread(target=hold, daemon=True).start()


@pytest.mark.parametrize(
    ("size", "pause"),
    [(0, lambda: sleeping(1.0)), (700_000, lambda: sleeping(1.0)), (0, lambda: on_a_thread(1.0))],
    ids=["loop-busy", "large-answer", "gil-held-while-waiting"],
)
def test_an_answer_that_arrived_during_our_pause_keeps_the_time_it_may_have_arrived(
    size: int, pause: Callable[[], Callable[[], None]]
) -> None:
    """The loop busy (a blocking call), or unable to run once its wait returned (another thread holds the
    GIL), or a large answer read 256 KiB at a time after the pause: the answer came at 0.2 s."""
    with answering_after(0.2, size) as url:
        earliest, read = bounds(url, new_loop, pause())
        blind, _ = bounds(url, None, pause())  # a loop whose polls we cannot see: timed when read
    assert earliest <= 0.2 + 0.005 and read >= 0.5, (earliest, read)  # never later than it arrived
    assert blind >= 0.5, blind  # what the pause costs where the polls are not watched


@pytest.mark.parametrize(("answer_s", "pause_s"), [(0.3, 0.0), (0.8, 0.3)])
def test_an_answer_read_while_we_waited_is_timed_when_it_came(answer_s: float, pause_s: float) -> None:
    """With no pause, or one that ended before the answer came, it is read as it comes (a late answer is read
    late); its earliest is never after that."""
    with answering_after(answer_s) as url:
        earliest, read = bounds(url, new_loop, sleeping(pause_s) if pause_s else None)
    assert answer_s - 0.005 <= read < answer_s + 0.15 and earliest <= read, (earliest, read)


def stopped_for_a_second() -> None:
    """Our whole process stopped for a second, 50 ms from now (a descheduled CI runner): the loop is then waiting."""
    pid = os.getpid()
    subprocess.Popen(["sh", "-c", f"sleep 0.05; kill -STOP {pid}; sleep 1; kill -CONT {pid}"])


def test_an_answer_that_came_while_our_process_was_stopped_is_the_answer_not_a_timeout() -> None:
    """A wait our process was stopped in returns empty once its time is past (CPython gives up on EINTR past the
    deadline): the expired timer then ran before the answer was read, and the runner ended the connection there
    (asyncio's own loop still does). The run's loop looks once more."""

    async def exchange() -> type:
        session = await open_session(url, limits=FAST)
        assert not isinstance(session, ConnectFailed), session
        await session.send("{}")
        stopped_for_a_second()
        answer = await session.receive(0.5)
        await session.close()
        return type(answer)

    with answering_after(0.2) as url, asyncio.Runner(loop_factory=new_loop) as runner:
        got = runner.run(exchange())
    assert got is Frame, got


def test_a_pause_of_ours_between_a_send_and_its_record_is_not_counted_as_the_targets_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The send is timed once written; a pause before that keeps the earliest it may have left, so an answer
    read within the timeout of the record but not of the write is not held in time for certain."""
    record = Recorder.text

    def slow_record(self: Recorder, direction: Any, text: str, earliest: float | None = None) -> Frame:
        if direction == "client":
            time.sleep(0.6)
        return record(self, direction, text, earliest)

    monkeypatch.setattr(Recorder, "text", slow_record)

    async def exchange() -> tuple[Frame | Closed, Frame | Timeout | Closed]:
        session = await open_session(url, limits=FAST)
        assert not isinstance(session, ConnectFailed), session
        sent = await session.send("{}")
        answer = await session.receive(5.0)
        await session.close()
        return sent, answer

    with answering_after(0.45) as url, asyncio.Runner(loop_factory=new_loop) as runner:
        sent, answer = runner.run(exchange())
    assert isinstance(sent, Frame) and isinstance(answer, Frame)
    assert sent.time - sent.earliest_time >= 0.55, sent  # it may have left 0.6 s before it was recorded
    assert answer.time - sent.earliest_time > 0.4 >= answer.earliest_time - sent.time, (sent, answer)


class Pauses:
    """Sleeps in the suite's loop right after `PAUSES` of the run's sends, drawn at random by the seed."""

    def __init__(self, seed: int, sends: int) -> None:
        self._at = set(random.Random(seed).sample(range(sends), PAUSES))
        self._count = itertools.count()
        self._lock = threading.Lock()
        self.made = 0

    def wrap(self, send: Callable[[Session, str], Any]) -> Callable[[Session, str], Any]:
        async def send_then_pause(session: Session, text: str) -> Frame | Closed:
            sent: Frame | Closed = await send(session, text)
            with self._lock:
                pause = next(self._count) in self._at and isinstance(sent, Frame)
                self.made += pause
            if pause:
                asyncio.get_running_loop().call_soon(time.sleep, PAUSE_S)  # the answer is on its way meanwhile
            return sent

        return send_then_pause


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], Pauses]]:
    def install(seed: int) -> Pauses:
        pauses = Pauses(seed, 60)  # within the first 60 sends: every full run sends more, a late server's too
        monkeypatch.setattr(transport.Session, "send", pauses.wrap(transport.Session.send))
        return pauses

    yield install


def run_against(reply: Reply, seed: int, report: Path) -> dict[str, list[str]]:
    """The full profile against `documented(reply)` on its own thread: each failed requirement's messages."""
    path = f"/realtime?model={DEFAULT_MODEL}"
    with ServerThread(lambda: serving(documented(reply), path, compression=None)) as url:
        args = ["--target", url, "--seed", str(seed), "--timeout", str(TIMEOUT_S), "--report-dir", str(report)]
        result = run_cli("run", *args, *QUIET)
    assert result.exit_code in (0, 1), result.stderr
    return result.failed


def late_answers(text: str) -> list[Any]:
    """Every session.updated comes `LATE_S` late (right after an error too); errors as documented."""
    if event_of(text).get("type") == "session.updated":
        return [Sleep(LATE_S), Send(text)]
    return as_documented(text)


@pytest.mark.parametrize("seed", seeds())
def test_our_pauses_while_answers_are_on_their_way_fail_no_conforming_target(
    seed: int, tmp_path: Path, paused: Callable[[int], Pauses], monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = paused(seed)
    assert run_against(as_documented, seed, tmp_path / "watched") == {}
    assert pauses.made == PAUSES
    # the same pauses in a loop whose polls are not watched: the conforming server is blamed for them
    monkeypatch.setattr(shard, "new_loop", None)
    blind = paused(seed)
    failed = run_against(as_documented, seed, tmp_path / "blind")
    assert blind.made == PAUSES
    messages = [m for ms in failed.values() for m in ms]
    assert messages and all(re.fullmatch(rf".* after [\d.]+s; the timeout is {TIMEOUT_S}s", m) for m in messages)


@pytest.mark.parametrize("seed", seeds())
def test_a_target_late_by_more_than_our_pauses_still_fails_for_its_lateness_alone(
    seed: int, tmp_path: Path, paused: Callable[[int], Pauses]
) -> None:
    pauses = paused(seed)
    failed = run_against(late_answers, seed, tmp_path)
    assert pauses.made == PAUSES
    assert "EX-VALID-ANSWERED" in failed and set(failed) <= {"EX-VALID-ANSWERED", "EX-UNDETERMINED-ANSWERED"}, failed


def test_what_came_right_after_session_created_is_read_before_the_first_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that announces its configuration with a session.updated a moment after session.created (the
    documents allow it), which arrives while our loop is held up just after reading session.created: the
    runner sent its first update before reading it, and the announcement was judged the update's answer,
    then a second one (EX-VALID-ONCE, EX-REFLECT)."""

    def announcing(text: str) -> list[Any]:
        created = json.loads(text)
        announced = {"type": "session.updated", "event_id": "announced", "session": created["session"]}
        return [Send(text), Sleep(0.001), Send(json.dumps(announced))]

    arrived = transport.Session.arrived

    def held_up_after_created(session: Session, frame: Any, since: float | None = None) -> None:
        arrived(session, frame, since)
        if b"session.created" in frame.data:
            time.sleep(0.1)  # the announcement comes meanwhile, and waits in the socket

    monkeypatch.setattr(transport.Session, "arrived", held_up_after_created)
    update = '{"type": "session.update", "event_id": "u1", "session": {"type": "realtime", "instructions": "Hi."}}'
    path = f"/realtime?model={DEFAULT_MODEL}"
    with ServerThread(lambda: serving(documented(opening=announcing), path, compression=None)) as url:
        for _ in range(3):
            with asyncio.Runner(loop_factory=new_loop) as runner:
                transcript = runner.run(
                    run_connection(Plan("announce", (update,), literal=True), Target(url, limits=FAST))
                )
            assert isinstance(transcript, Transcript), transcript
            kinds = [(f.direction, event_of(f.text or "").get("type")) for f in transcript.frames if f.text]
            assert kinds[1:3] == [("server", "session.updated"), ("client", "session.update")], kinds
            assert not judge(transcript, load_contract()).violations
