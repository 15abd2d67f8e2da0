"""The windows' echo pairing and unawaited set-aside, made linear, decide as the quadratic scans they replace.

Those scans (kept here as the reference) took 10-24 s on one connection of 15,000 updates, or of 14,000 appended
chunks and errors, a file `validate` reads; the property is that every window keeps the same events, in the same
order, and the same ambiguity, on connections of any shape.
"""

from __future__ import annotations

import copy
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from conformance.checks.connection import Event
from conformance.checks.windows import Window, echoes_paired, unawaited_set_aside
from conformance.transcript import Frame

IDS = st.sampled_from(["a", "b", "c", "d", None])
#: Steps of time from one frame to the next: ties (frames read at once) and bounds met exactly included.
STEPS = st.sampled_from([0.0, 0.05, 0.1, 0.25, 1.0])


def reference_echoes_paired(windows: list[Window]) -> list[Window]:
    ids = [w.event_id for w in windows]
    for index, window in enumerate(windows):
        for event in list(window.events):
            echoed = event.echo
            if not isinstance(echoed, str) or ids[index] == echoed:
                continue
            owners = [i for i in range(index) if ids[i] == echoed]
            if len(owners) == 1 and ids.count(echoed) == 1:
                window.events.remove(event)
                windows[owners[0]].events.append(event)
    return windows


def reference_unawaited_set_aside(
    windows: list[Window], unawaited: list[tuple[Frame, str | None]], any_answers: tuple[str, ...], timeout_s: float
) -> list[Window]:
    if not unawaited:
        return windows
    for window in windows:
        first_answer = min((e.frame.time for e in window.answers()), default=None)
        for event in list(window.events):
            if event.type not in any_answers or (window.event_id is not None and event.echo == window.event_id):
                continue
            time = event.frame.time
            if any(i is not None and event.echo == i and f.time <= time for f, i in unawaited):
                window.events.remove(event)
                continue
            earliest = event.frame.earliest_time
            causes = [f for f, _ in unawaited if earliest - timeout_s <= f.time <= time]
            if not causes:
                continue
            if first_answer is not None and first_answer < time and first_answer <= causes[0].time:
                window.events.remove(event)
            else:
                window.ambiguous = True
    return windows


@st.composite
def connections(draw: Any) -> tuple[list[Window], list[tuple[Frame, str | None]]]:
    """Windows in time order, each with events of an answer type or an error (echoing some id or none), and
    unawaited client events interleaved at times of their own."""
    clock = 0.0
    windows: list[Window] = []
    unawaited: list[tuple[Frame, str | None]] = []
    for _ in range(draw(st.integers(1, 6))):
        clock += draw(STEPS)
        window = Window(Frame("client", clock, text="{}"), draw(IDS), ("session.updated", "error"), [], 0.0)
        for _ in range(draw(st.integers(0, 5))):
            clock += draw(STEPS)
            if draw(st.booleans()):
                unawaited.append((Frame("client", clock, text="{}"), draw(IDS)))
                continue
            kind = draw(st.sampled_from(["session.updated", "error", "conversation.created"]))
            data: dict[str, Any] = {"type": kind}
            if kind == "error":
                data["error"] = {"event_id": draw(st.one_of(IDS, st.integers(0, 2)))}
            earliest = clock - draw(STEPS) if draw(st.booleans()) else None
            frame = Frame("server", clock, text=str(data), earliest=None if earliest is None else max(earliest, 0.0))
            window.events.append(Event(frame, data, frozenset()))
        windows.append(window)
    return windows, unawaited


def copied(windows: list[Window]) -> list[Window]:
    twins = [copy.copy(window) for window in windows]
    for twin in twins:
        twin.events = list(twin.events)
    return twins


def shown(windows: list[Window]) -> list[tuple[list[int], bool]]:
    """Each window's events (by identity: an event is equal only to itself) and ambiguity."""
    return [([id(e) for e in w.events], w.ambiguous) for w in windows]


@settings(max_examples=400, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(connections(), st.sampled_from([0.05, 0.1, 0.25, 1.0]))
def test_the_linear_pairing_keeps_every_event_where_the_scans_put_it(
    connection: tuple[list[Window], list[tuple[Frame, str | None]]], timeout_s: float
) -> None:
    windows, unawaited = connection
    mine, theirs = copied(windows), copied(windows)  # the same events, in lists of their own
    assert shown(echoes_paired(mine)) == shown(reference_echoes_paired(theirs))
    answers = ("error",)
    assert shown(unawaited_set_aside(mine, unawaited, answers, timeout_s)) == shown(
        reference_unawaited_set_aside(theirs, unawaited, answers, timeout_s)
    )
