"""One connection's record: its frames, raw, each with its time since the connection opened."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.transcript import Direction, Frame

#: The least step between two recorded times: a transcript keeps microseconds, and two times 2 µs apart
#: stay apart, in order, however each is rounded.
TICK = 2e-6
#: A server frame read this much after the earliest it may have arrived keeps when it was read too (`Frame.read`).
READ_SLACK_S = 0.001


@dataclass
class Recorder:
    """The frames of one connection, raw, timed from its opening.

    What we send is timed when it went out; what the server sent, at the earliest it may have arrived
    (`arrived_since`, conformance.wire.arrival), so a pause of ours never makes an answer late, and,
    where we read it later than that, when we read it: judging then knows only that it arrived between.
    Each time is later than the one recorded before it, by `TICK` at least: judging reads order from
    times (frames read at once may share their earliest arrival), and so does a transcript read back.
    """

    started: float = field(default_factory=time.monotonic)
    frames: list[Frame] = field(default_factory=list)
    arrived_since: Callable[[], float] = time.monotonic

    def now(self) -> float:
        return time.monotonic() - self.started

    def _times(self, direction: Direction) -> tuple[float, float | None]:
        """The frame's time, and when it was read if that is later by more than `READ_SLACK_S`."""
        now = self.now()
        earliest = now if direction == "client" else self.arrived_since() - self.started
        at = max(earliest, self.frames[-1].time + TICK if self.frames else 0.0)
        return at, now if now - at > READ_SLACK_S else None

    def text(self, direction: Direction, text: str) -> Frame:
        at, read = self._times(direction)
        frame = Frame(direction, at, text=text, read=read)
        self.frames.append(frame)
        return frame

    def binary(self, length: int) -> Frame:
        at, read = self._times("server")
        frame = Frame("server", at, binary_length=length, read=read)
        self.frames.append(frame)
        return frame

    def close(self, direction: Direction, code: int | None, reason: str) -> Frame:
        at, read = self._times(direction)
        frame = Frame(direction, at, close_code=code, close_reason=reason, read=read)
        self.frames.append(frame)
        return frame
