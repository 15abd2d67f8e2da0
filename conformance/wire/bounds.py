"""What bounds a connection and a run's bytes, and what a connection's wait can end in: plain values."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.transcript import MAX_SERVER_FRAMES


@dataclass(frozen=True)
class Limits:
    """Bounds on one connection: every await and every buffer has one."""

    connect_s: float = 10.0
    answer_s: float = 5.0
    max_frame_bytes: int = 1 << 20
    max_frames: int = MAX_SERVER_FRAMES
    close_s: float = 2.0
    max_connection_bytes: int = 16 << 20  # a conforming connection receives a few KB


class ByteBudget:
    """Bytes received, counted over every connection of a run, against a bound (None: unbounded)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.received = 0

    def take(self, size: int) -> bool:
        """Count `size` more bytes; False once the bound is passed."""
        self.received += size
        return self.limit is None or self.received <= self.limit

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.received > self.limit


@dataclass(frozen=True)
class Timeout:
    waited_s: float


@dataclass(frozen=True)
class Closed:
    code: int | None
    reason: str


@dataclass(frozen=True)
class Auth:
    """Handshake headers, and every form of the credentials in them (and in the target URL),
    which every writer masks (conformance.redact)."""

    headers: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
