"""What to send: one connection's planned updates (plain values, shared by generate and the runner)."""

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
