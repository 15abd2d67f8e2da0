"""How a command ends: its exit code (DESIGN's contract for CI), and a mistake as one line."""

from __future__ import annotations

import sys
from enum import IntEnum

from conformance.redact import one_line as one_line


class Exit(IntEnum):
    CONFORMANT = 0
    NON_CONFORMANT = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERNAL = 4


INTERRUPTED = 130  # Ctrl-C: the conventional code; whatever ran is still reported


class UsageError(Exception):
    """A mistake of the user's: printed as one line, exit 2."""


def fail(message: str) -> None:
    print(f"realtime-conformance: error: {one_line(message)}", file=sys.stderr)
