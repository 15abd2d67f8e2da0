"""One connection's record: its frames, raw, each with its time since the connection opened."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from conformance.transcript import Frame


@dataclass
class Recorder:
    """The frames of one connection, raw, timed from its opening."""

    started: float = field(default_factory=time.monotonic)
    frames: list[Frame] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def text(self, direction: Literal["client", "server"], text: str, at: float | None = None) -> Frame:
        frame = Frame(direction, self.now() if at is None else at, text=text)
        self.frames.append(frame)
        return frame

    def binary(self, length: int, at: float) -> Frame:
        frame = Frame("server", at, binary_length=length)
        self.frames.append(frame)
        return frame

    def close(self, direction: Literal["client", "server"], code: int | None, reason: str) -> Frame:
        frame = Frame(direction, self.now(), close_code=code, close_reason=reason)
        self.frames.append(frame)
        return frame
