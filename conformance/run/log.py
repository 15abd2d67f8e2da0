"""Where a run goes (`Target`), what it produced so far (`RunLog`, the pool's and each connection's
accumulator, private to the run) and what it came to (`RunRecord`, frozen: what the reports read)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.contract import Contract
from conformance.run.pacing import Politeness
from conformance.transcript import Transcript
from conformance.wire.transport import Auth, ConnectFailed, Limits

#: Bytes a run may receive over all its connections. A whole certify run against a conforming server
#: receives a few hundred KB; the run is held in memory until judged, so this keeps a flooded run's
#: peak under 300 MB (tests/test_bounds_and_signals.py measures it).
MAX_RUN_BYTES = 64 << 20


@dataclass(frozen=True)
class Target:
    """Where and how to connect, and the bounds of every wait."""

    url: str
    auth: Auth = field(default_factory=Auth)
    limits: Limits = field(default_factory=Limits)
    models: tuple[str, ...] = ()  # models the user says the target accepts
    settle_s: float = 0.1  # the least time to keep listening at the end (at least the timeout of the last update)
    ssl_context: ssl.SSLContext | None = None
    politeness: Politeness = field(default_factory=Politeness)
    max_run_bytes: int | None = MAX_RUN_BYTES
    halt: threading.Event | None = None  # set: open no more connections (an interrupted shrink)
    #: Keep listening the whole timeout after the last update (off only to measure what it costs).
    listen_out: bool = True
    #: The run's contract: its dialect's event registry says what answers what is sent (None: the default dialect's).
    contract: Contract | None = None


@dataclass(frozen=True)
class Cut:
    """A connection we ended before its plan was done: a byte bound passed, or the run interrupted."""

    connection: str
    reason: str


@dataclass
class RunLog:
    """What a run produced so far: kept whole even when the run stops early."""

    transcripts: list[Transcript] = field(default_factory=list)
    failure: ConnectFailed | None = None
    exchanges: int = 0
    tls_fingerprint: str | None = None
    aborted: list[str] = field(default_factory=list)  # connections the transport had to end
    stopped: str | None = None  # why plans were left unrun (budget, interruption)
    throttled: int = 0  # rate-limit errors the target answered updates with
    throttled_s: float = 0.0  # time spent backing off from them
    cut: list[Cut] = field(default_factory=list)
    received_bytes: int = 0
    unreached_connections: int = 0  # planned connections never opened (a budget, a stop)
    unsent_updates: int = 0  # planned updates never sent (those of unreached connections included)
    unjudged_connections: int = 0  # connections that ran, written but not judged (a signal while judging)
    #: Where each finished connection goes, when set (judged and written at once: engine.Recorder),
    #: instead of `transcripts`; so a run holds no transcript longer than its connection lasts.
    #: It gets the connection's plan number in the run_plans call (so nothing maps labels to numbers).
    sink: Callable[[Transcript, int], None] | None = field(default=None, repr=False, compare=False)

    def take(self, transcript: Transcript, index: int) -> None:
        """A finished connection, plan number `index` of its run_plans call."""
        self.exchanges += sent_updates(transcript)
        if self.sink is not None:
            self.sink(transcript, index)
        else:
            self.transcripts.append(transcript)


@dataclass(frozen=True)
class RunRecord:
    """What a run's connections came to, frozen when the run ends: the part of the logs reports read."""

    failure: ConnectFailed | None = None
    exchanges: int = 0
    tls_fingerprint: str | None = None
    aborted: tuple[str, ...] = ()  # connections the transport had to end
    stopped: str | None = None  # why plans were left unrun (budget, interruption)
    throttled: int = 0  # rate-limit errors the target answered updates with
    throttled_s: float = 0.0  # time spent backing off from them
    cut: tuple[Cut, ...] = ()
    received_bytes: int = 0
    unreached_connections: int = 0  # planned connections never opened (a budget, a stop)
    unsent_updates: int = 0  # planned updates never sent (those of unreached connections included)
    unjudged_connections: int = 0  # connections that ran, written but not judged (a signal while judging)


def sent_updates(transcript: Transcript) -> int:
    """How many updates a connection sent (its client text frames)."""
    return sum(1 for f in transcript.frames if f.direction == "client" and f.kind == "text")


def not_reached(log: RunLog, planned: int) -> str:
    """What a stopped run left undone, in words (console and summary)."""
    return (
        f"{log.unreached_connections} of {planned} planned connections not opened, "
        f"{log.unsent_updates} planned updates not sent"
    )
