"""What to send: one connection's planned updates (plain values, shared by generate and the runner),
and where in a generated connection the client waits out an answer's whole timeout."""

from __future__ import annotations

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


def waits(count: int) -> frozenset[int]:
    """Where a generated connection of `count` updates waits out the whole timeout: after the answer
    to its last update but one.

    Its last update is then awaited alone: every earlier update's timeout has passed when it is
    sent, and the connection is listened out after it, so every answer within its timeout is seen
    and is its own (with the state the earlier updates left), a second or late one included. One
    wait per connection, and it does not hold a concurrency slot (`conformance.run.runner`), so a
    run's waits overlap across its connections instead of adding up within one.
    """
    return frozenset({count - 2}) if count >= 2 else frozenset()
