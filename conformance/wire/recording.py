"""One connection's record: its frames, raw, each with its time since the connection opened."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from conformance.transcript import Direction, Frame

#: The least step between two recorded times: a transcript keeps microseconds, and two times 2 µs apart
#: stay apart, in order, however each is rounded.
TICK = 2e-6
#: A frame whose earliest arrival (or departure) is this much before its time keeps it (`Frame.earliest`).
EARLIEST_SLACK_S = 0.001


@dataclass
class Recorder:
    """The frames of one connection, raw, timed from its opening.

    Each frame is timed when we read it, or sent it, and keeps the earliest it may have arrived, or left,
    where that is more than `EARLIEST_SLACK_S` before (conformance.wire.arrival): judging then knows only
    that it came between the two, so a pause of ours never makes an answer late. Each time is later than
    the one recorded before it, by `TICK` at least: judging reads order from times.
    """

    started: float = field(default_factory=time.monotonic)
    frames: list[Frame] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def _times(self, earliest: float | None) -> tuple[float, float | None]:
        """The frame's time, and its earliest (a monotonic time, given) if that is before it by more than the slack."""
        at = max(self.now(), self.frames[-1].time + TICK if self.frames else 0.0)
        first = None if earliest is None else max(earliest - self.started, 0.0)
        return at, first if first is not None and at - first > EARLIEST_SLACK_S else None

    def text(self, direction: Direction, text: str, earliest: float | None = None) -> Frame:
        at, first = self._times(earliest)
        frame = Frame(direction, at, text=text, earliest=first)
        self.frames.append(frame)
        return frame

    def binary(self, length: int, earliest: float | None = None) -> Frame:
        at, first = self._times(earliest)
        frame = Frame("server", at, binary_length=length, earliest=first)
        self.frames.append(frame)
        return frame

    def close(self, direction: Direction, code: int | None, reason: str, earliest: float | None = None) -> Frame:
        at, first = self._times(earliest)
        frame = Frame(direction, at, close_code=code, close_reason=reason, earliest=first)
        self.frames.append(frame)
        return frame
