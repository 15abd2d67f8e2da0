"""Drive planned exchanges over the transport and collect one transcript per connection.

A fixed pool of workers pulls the plans one at a time and runs each on a connection of its own
(`conformance.run.connection`); so tasks and state in flight follow what is in flight, not the
run's size. After its last update a connection is kept listening for the whole timeout, so a
second or late answer within it is on the record; that wait, and a wait out of a whole timeout
before an update awaited alone (`Plan.wait_after`), leave the concurrency slot to another
connection while the pool's room for waiting connections has a place (`_Seat`).
Automatic cyclic garbage collection is paused while plans run, and done on the run's schedule
instead (`conformance.collector`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator

from conformance.collector import scheduled
from conformance.generate.plan import MODEL_PLACEHOLDER as MODEL_PLACEHOLDER
from conformance.generate.plan import Plan as Plan
from conformance.run.connection import MARGIN_S, recorded
from conformance.run.connection import connect as connect
from conformance.run.connection import run_connection as run_connection
from conformance.run.log import MAX_RUN_BYTES as MAX_RUN_BYTES
from conformance.run.log import Cut as Cut
from conformance.run.log import RunLog as RunLog
from conformance.run.log import Target as Target
from conformance.run.log import not_reached, sent_updates
from conformance.run.pacing import Pacer, listening_room
from conformance.run.pacing import Politeness as Politeness
from conformance.transcript import Transcript
from conformance.wire.transport import ByteBudget, ConnectFailed, Session

OnDone = Callable[[Transcript], Awaitable[None] | None]

#: Connections that may wait out a timeout before their last update outside a slot, per slot.
WAITING_PER_SLOT = 4


class _Pool:
    """The workers of one `run_plans` call and what they share: the plan source, the slots, the pacer."""

    def __init__(self, plans: Iterable[Plan], target: Target, concurrency: int, on_done: OnDone | None, log: RunLog):
        self.target, self.on_done, self.log = target, on_done, log
        self.source: Iterator[tuple[int, Plan]] = enumerate(plans)
        self.kept: dict[int, Transcript | ConnectFailed] = {}  # results not handed to a sink, merged in plan order
        self.started: dict[int, Plan] = {}  # plans taken from the source, in flight or with a result kept above
        self.planned = 0  # plans taken from the source so far
        self.slots = asyncio.Semaphore(max(1, concurrency))
        # Places for connections that only wait (listen out their last timeout, or wait one out before
        # their next update) outside the concurrency slots, bounded apart; taken only when free (`_Seat`).
        self.room = max(1, min(target.politeness.max_listening, listening_room()))
        # Of those, connections waiting before their last update: a few per slot, so a long run's
        # connections do not pile up there (each holds its state meanwhile) while the run's waits still
        # overlap; beyond that a connection waits in its slot.
        self.waiting_room = WAITING_PER_SLOT * max(1, concurrency)
        self.stop = asyncio.Event()
        self.pacer = Pacer(target.politeness, target.limits.answer_s + MARGIN_S + target.limits.close_s)
        self.budget = ByteBudget(target.max_run_bytes)
        self.sessions: dict[int, Session] = {}
        self.live: set[asyncio.Future[None]] = set()
        self.errors: list[BaseException] = []
        self.ended = asyncio.Event()  # a worker ended: the run may be over, or have failed
        self.accounted = False  # the results are in the log: what ends later is not taken

    def spawn(self) -> None:
        task = asyncio.ensure_future(self.worker())
        self.live.add(task)
        task.add_done_callback(self.finished)

    def finished(self, task: asyncio.Future[None]) -> None:
        self.live.discard(task)  # done workers are dropped: the pool stays as large as what is in flight
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]
        self.ended.set()

    async def worker(self) -> None:
        """Takes the next plan once it holds a connection slot, so plans start in plan order."""
        for _ in range(1 << 62):  # bounded by the plans
            await self.slots.acquire()
            seat = _Seat(self)
            try:
                if self.stop.is_set() or self.pacer.exhausted or self.budget.exhausted:
                    return
                taken = next(self.source, None)
                if taken is None:
                    return
                index, plan = taken
                self.started[index] = plan
                self.planned = index + 1
                await self.one(index, plan, seat)
                if seat.replaced:  # a new worker took its slot while it waited or listened out
                    return
            finally:
                seat.leave()

    async def one(self, index: int, plan: Plan, seat: _Seat) -> None:
        log = self.log
        try:
            # looked up here, not bound at import: tests plant a bug in `runner.run_connection`
            result = await run_connection(
                plan, self.target, log, self.pacer, seat, self.budget, lambda s: self.sessions.update({index: s})
            )
        except asyncio.CancelledError:  # Ctrl-C: what this connection recorded is kept, marked as cut
            self.cut(index)  # (run_connection closed it on its way out)
            raise
        except BaseException:  # a bug of ours, reported as one: its connection is not taken as cut
            self.sessions.pop(index, None)
            raise
        if self.accounted:  # it heeded the cancel too late: the run already took it as cut, or not reached
            return
        self.sessions.pop(index, None)  # done: only connections in flight are kept for a cancelled run
        if isinstance(result, Transcript) and log.sink is not None:  # judged and written now, not held
            del self.started[index]
            log.unsent_updates += max(0, len(plan.updates) - sent_updates(result))
            log.take(result, index)
        elif result is not None:
            self.kept[index] = result
        if isinstance(result, ConnectFailed):
            self.stop.set()
        elif result is not None and self.on_done is not None:
            maybe = self.on_done(result)
            if maybe is not None:
                await maybe

    async def run(self, concurrency: int) -> None:
        """Workers: one per connection slot, and one more for each connection waiting in the room."""
        for _ in range(max(1, concurrency)):
            self.spawn()
        try:
            for _ in range(1 << 62):  # bounded by the plans: each pass waits for a worker to end
                if self.errors or not self.live:
                    break
                self.ended.clear()
                await self.ended.wait()
            if self.errors:
                raise self.errors[0]
        except BaseException:  # cancelled (Ctrl-C) or a bug: the connections in flight record what they had first
            for task in list(self.live):
                task.cancel()
            if self.live:
                await asyncio.wait(set(self.live), timeout=self.target.limits.close_s + 1)
            raise

    def cut(self, index: int) -> None:
        """Plan `index`, cancelled in flight: what its connection recorded is kept, marked as cut."""
        session = self.sessions.pop(index, None)
        if session is not None and not self.accounted:  # (once accounted, it stands as not reached)
            plan = self.started[index]
            self.kept[index] = recorded(session, plan, self.target)
            self.log.cut.append(Cut(plan.label, "interrupted"))

    def account(self) -> None:
        """Into the log, in plan order: the results kept, and every plan not run (counted, not held).

        A connection still closing when the run stopped waiting for it (its close handshake held up past
        the close bound, the loop stalled) is taken here as cut, with what it recorded so far: its own
        task would take it too late, its cut listed with no transcript to show."""
        log = self.log
        for index in list(self.sessions):
            self.cut(index)
        self.accounted = True
        for index in sorted(self.started):
            plan, result = self.started[index], self.kept.get(index)
            if isinstance(result, Transcript):
                log.unsent_updates += max(0, len(plan.updates) - sent_updates(result))
                log.take(result, index)
            else:
                log.unreached_connections += 1
                log.unsent_updates += len(plan.updates)
                if isinstance(result, ConnectFailed) and log.failure is None:
                    log.failure = result
        for index, plan in self.source:  # never started
            self.planned = index + 1
            log.unreached_connections += 1
            log.unsent_updates += len(plan.updates)
        if self.pacer.exhausted:
            log.stopped = f"{self.pacer.exhausted}: {not_reached(log, self.planned)}"
        elif self.budget.exhausted:
            log.stopped = f"the run's byte bound ({self.budget.limit} bytes received) was reached"
        log.received_bytes += self.budget.received


class _Seat:
    """Where one worker's connection stands: in a connection slot, or in a place of the pool's room
    (only waiting there: listening out its last timeout, or waiting one out before its next update),
    its slot then taken by a new worker.

    A place in the room is taken only when one is free, and otherwise the connection waits in its
    slot: so no slot holder ever waits for the room, and those in the room wait only for a slot
    (to send again), which the others give back unconditionally: no deadlock.
    """

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.slot, self.placed = True, False  # it holds a connection slot; a place in the room
        self.replaced = False  # a new worker took over this one's slot: this one ends with its connection

    def _to_room(self) -> bool:
        pool = self.pool
        if not self.slot or pool.room == 0:
            return False
        pool.room -= 1
        self.placed, self.slot = True, False
        pool.slots.release()
        if not self.replaced:
            self.replaced = True
            pool.spawn()
        return True

    def leave(self) -> None:
        """The connection ended: what it holds goes back."""
        if self.slot:
            self.pool.slots.release()
        if self.placed:
            self.pool.room += 1
        self.slot = self.placed = False

    async def listen(self) -> None:
        """Only listening out is left: into the room if there is a place, its slot to a new worker."""
        self._to_room()

    @contextlib.asynccontextmanager
    async def waiting(self) -> AsyncIterator[None]:
        """Waiting out a whole timeout before the next update: in the room meanwhile if there is a place,
        and back in a slot (in line with the others) before the next send. Not under an exchange or
        time budget: a new connection would spend what the waiting one was to send next."""
        pool = self.pool
        if pool.pacer.bounded or pool.waiting_room == 0 or not self._to_room():
            yield
            return
        pool.waiting_room -= 1
        try:
            yield  # (if the wait is cancelled, the worker gives back what is held)
        finally:
            pool.waiting_room += 1
        await pool.slots.acquire()
        self.slot = True
        pool.room += 1
        self.placed = False


async def run_plans(
    plans: Iterable[Plan],
    target: Target,
    concurrency: int = 1,
    on_done: OnDone | None = None,
    log: RunLog | None = None,
) -> RunLog:
    """Run every plan (up to `concurrency` connections at once) into `log`.

    Stops at the first connect failure, or when the budget is spent. Transcripts land in plan order
    whatever the concurrency (a seed gives one result), and those finished are kept even when the
    run is cancelled (Ctrl-C). `plans` may be read lazily: it is pulled one plan at a time.
    """
    log = log if log is not None else RunLog()
    pool = _Pool(plans, target, concurrency, on_done, log)
    try:
        async with scheduled():
            await pool.run(concurrency)
    finally:
        pool.account()
    return log
