"""The event registry (`spec/events.json`) as typed values: which events exist, who sends them,
the schema each is judged by and which server events answer a client event.

Judging, the runner's waiting and the rendered API documents ask it; none restates an event list.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["client", "server"]


@dataclass(frozen=True)
class EventType:
    """One documented event."""

    name: str
    direction: Direction
    schema: str  # the file under spec/schemas/ it is judged by
    component: str  # its name in the rendered OpenAPI/AsyncAPI documents
    #: Client events: the server events a client awaits after sending it (empty: it awaits none).
    answers: tuple[str, ...] = ()
    #: Server events: it may answer any client event, awaited or not (`error`).
    answers_any: bool = False
    #: Client events: a client frame that is no registered event (not JSON, an unknown type) is
    #: judged as an invalid one of this event (the server must reject it).
    judges_unknown: bool = False

    @property
    def page(self) -> str:
        """Its path in the rendered OpenAPI document (the doc generator's 'POST …/events/…' view)."""
        return f"/v1/realtime/{self.direction}-events/{self.name}"


@dataclass(frozen=True)
class EventRegistry:
    """Every documented event, in the registry's order, with the lookups judging needs."""

    events: tuple[EventType, ...]

    def __post_init__(self) -> None:
        names = [e.name for e in self.events]
        if len(set(names)) != len(names):
            raise ValueError("events.json: an event is registered twice")
        if self.events and sum(1 for e in self.events if e.judges_unknown and e.direction == "client") != 1:
            raise ValueError("events.json: exactly one client event must have judges_unknown")
        servers = set(self.server_events)
        for event in self.events:
            unknown = set(event.answers) - servers
            if unknown:
                raise ValueError(f"events.json: {event.name} is answered by unregistered {sorted(unknown)}")

    @functools.cached_property
    def _by_name(self) -> dict[str, EventType]:
        """Each event by its name: judging looks up every frame's event, twice or more (a dict, not a scan)."""
        return {e.name: e for e in self.events}

    def event(self, name: str) -> EventType:
        return self._by_name[name]

    def get(self, name: object) -> EventType | None:
        return self._by_name.get(name) if isinstance(name, str) else None

    @functools.cached_property
    def fallback(self) -> EventType:
        """The client event an unrecognised client frame is judged as."""
        return next(e for e in self.events if e.judges_unknown)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.events)

    @property
    def client_events(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.events if e.direction == "client")

    @property
    def server_events(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.events if e.direction == "server")

    def answers_to(self, name: str) -> tuple[str, ...]:
        """What a client awaits after sending `name` (nothing for an event with no answer)."""
        event = self.get(name)
        return event.answers if event is not None else ()

    @property
    def any_answers(self) -> tuple[str, ...]:
        """The server events that may answer any client event, awaited or not (`error`)."""
        return tuple(e.name for e in self.events if e.answers_any)

    @property
    def answer_types(self) -> tuple[str, ...]:
        """Every server event that answers some client event."""
        awaited = {name for e in self.events for name in e.answers} | set(self.any_answers)
        return tuple(name for name in self.server_events if name in awaited)


def parse_registry(document: dict[str, Any]) -> EventRegistry:
    return EventRegistry(
        tuple(
            EventType(
                name=entry["name"],
                direction=entry["direction"],
                schema=entry["schema"],
                component=entry["component"],
                answers=tuple(entry.get("answers", ())),
                answers_any=bool(entry.get("answers_any", False)),
                judges_unknown=bool(entry.get("judges_unknown", False)),
            )
            for entry in document["events"]
        )
    )
