"""What a fault of the mock is: one misbehaviour, the event it rewrites, what it must trip.

The faults themselves are data (conformance.mock.faults); this module holds their shape and the
rewrites (`set_at`, `drop_at`) a fault applies to one outgoing event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    trips: tuple[str, ...] = ()
    applies_to: str = ""  # event type whose outgoing events `mutate` rewrites
    mutate: Callable[[Event], None] | None = None
    outcome: str = ""
    # What generated exchanges may also show, beyond the scripted ones: a real second violation of
    # the same misbehaviour (deaf after an error also leaves an invalid update unanswered).
    may_trip: tuple[str, ...] = ()
    # The dialects whose contract has the field the fault breaks (none: every dialect), as a
    # requirement's `dialects` says where it applies.
    dialects: tuple[str, ...] = ()

    def exists_in(self, dialect: str) -> bool:
        return not self.dialects or dialect in self.dialects


def _parent(event: Event, path: str) -> tuple[Event, str]:
    """The object holding the last key of a dotted path, and that key."""
    *parents, last = path.split(".")
    node = event
    for key in parents:
        node = node[key]
    return node, last


def set_at(path: str, value: Any) -> Callable[[Event], None]:
    """A rewrite that sets the dotted `path` of an event to `value`."""

    def mutate(event: Event) -> None:
        node, key = _parent(event, path)
        node[key] = value

    return mutate


def drop_at(path: str) -> Callable[[Event], None]:
    """A rewrite that removes the dotted `path` from an event (if it is there)."""

    def mutate(event: Event) -> None:
        node, key = _parent(event, path)
        node.pop(key, None)

    return mutate
