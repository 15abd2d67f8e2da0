"""What to send: one connection's planned updates (plain values, shared by generate and the runner),
and where in a generated connection the client waits out an answer's whole timeout."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: Stands for the model the target announced in `session.created`; the runner puts it in at send time.
MODEL_PLACEHOLDER = "$announced-model"


@dataclass(frozen=True)
class Plan:
    """One connection: the texts of the updates to send, in order."""

    label: str
    updates: tuple[str, ...]
    #: The updates (by index) after whose answer the client waits out the whole timeout before
    #: the next send, so that a second or late answer to it lands in its own window.
    wait_after: frozenset[int] = frozenset()
    #: Send each update byte for byte as it is (a replay's recorded frames): no placeholder is filled in.
    literal: bool = False


#: About one update in this many after the first of a connection is awaited alone (`waits`).
WAIT_ONE_IN = 8


def waits(key: str, count: int) -> frozenset[int]:
    """The updates (by index) after whose answer the client waits out the whole timeout.

    For about one in `WAIT_ONE_IN` of the updates after the first, the client waits out the
    timeout both before it and after it: it is then awaited alone, so every answer within its
    timeout lands in its window and is its own, and a second or late answer is attributed to it
    (mid-connection, not only at the end). Decided by a hash of `key` (seed and plan), so a seed
    always waits at the same places; the last update needs none (the connection is listened out).
    """
    out: set[int] = set()
    for index in range(1, count):
        if hashlib.sha256(f"{key}:{index}".encode()).digest()[0] % WAIT_ONE_IN == 0:
            out |= {index - 1, index}
    return frozenset(i for i in out if i < count - 1)
