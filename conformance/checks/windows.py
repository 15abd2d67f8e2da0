"""Which server events belong to which awaited client event: the windows of one connection.

Each awaited send opens a window that the next awaited send, a close or the end of the
transcript ends. Then, in order: an `error` echoing an earlier event's `event_id` moves to it; an
`error` that may answer a client event sent with no awaited answer (appended audio) is set aside
or makes its window uncertain; throttled attempts join their resend. Plain data, no I/O.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from conformance.checks.connection import Event, is_throttle
from conformance.transcript import Frame

#: A position on the connection: ("send", frame), ("unawaited", frame), ("event", Event),
#: ("client-close", frame) or ("server-close", frame).
Position = tuple[str, Any]


@dataclass
class Window:
    sent: Frame
    event_id: str | None
    answer_types: tuple[str, ...]
    events: list[Event]
    end: float
    close: Frame | None = None
    open: bool = True
    #: An error in it may be the answer of an unawaited event as well as its own.
    ambiguous: bool = False

    def answers(self) -> list[Event]:
        return [e for e in self.events if e.type in self.answer_types]


def windows_of(
    positions: list[Position], end_time: float, ids: dict[int, str | None], answers: dict[int, tuple[str, ...]]
) -> list[Window]:
    """Each awaited send opens a window that the next one, a close, or the end of the transcript ends."""
    windows: list[Window] = []
    for kind, item in positions:
        current = windows[-1] if windows and windows[-1].open else None
        if kind == "send":
            if current is not None:
                current.end, current.open = item.time, False
            windows.append(Window(item, ids[id(item)], answers[id(item)], [], end_time))
        elif current is None:
            continue
        elif kind == "event":
            current.events.append(item)
        elif kind == "unawaited":
            continue  # it awaits nothing: the window stays open (see `unawaited_set_aside`)
        else:
            current.end, current.open = item.time, False
            current.close = item if kind == "server-close" else None
    return windows


def echoes_paired(windows: list[Window]) -> list[Window]:
    """Move each `error` that echoes the `event_id` of one earlier event into that event's window."""
    ids = [w.event_id for w in windows]
    counts = Counter(ids)  # per echo, not a scan of every window: a connection of 15,000 updates took seconds
    owner = {event_id: index for index, event_id in enumerate(ids)}  # asked only of an id of one window
    for index, window in enumerate(windows):
        kept = []
        for event in window.events:
            echoed = event.echo
            if isinstance(echoed, str) and ids[index] != echoed and counts[echoed] == 1 and owner[echoed] < index:
                windows[owner[echoed]].events.append(event)
            else:
                kept.append(event)
        window.events = kept
    return windows


def unawaited_set_aside(
    windows: list[Window], unawaited: list[tuple[Frame, str | None]], any_answers: tuple[str, ...], timeout_s: float
) -> list[Window]:
    """An event that may answer any client event (`error`), arriving within the timeout of a client
    event that awaits no answer (appended audio), is not certainly the window's own:

    - it is set aside (judged for its shape only) when it echoes the `event_id` of any such event
      sent before it, or when the window's own event was answered before any such event was sent;
    - otherwise it is kept but the window is `ambiguous`: the checks that pair do not judge it.
    An error echoing the window's own `event_id` is its own.
    """
    if not unawaited:
        return windows
    # looked up per event, not scanned: 14,000 appended chunks and as many errors took 24 s
    first_sent: dict[str, float] = {}  # each event_id of an unawaited event: when it was first sent
    for frame, event_id in unawaited:
        if event_id is not None:
            first_sent[event_id] = min(frame.time, first_sent.get(event_id, math.inf))
    times = sorted(frame.time for frame, _ in unawaited)
    for window in windows:
        first_answer = min((e.frame.time for e in window.answers()), default=None)
        kept = []
        for event in window.events:
            if event.type not in any_answers or (window.event_id is not None and event.echo == window.event_id):
                kept.append(event)
                continue
            time = event.frame.time
            echo = event.echo
            if isinstance(echo, str) and first_sent.get(echo, math.inf) <= time:
                continue  # set aside: it names its cause, however long ago that was sent
            # it may be theirs if it may have come within their timeout: the first such cause
            at = bisect.bisect_left(times, event.frame.earliest_time - timeout_s)
            if at == len(times) or times[at] > time:
                kept.append(event)
            elif first_answer is not None and first_answer < time and first_answer <= times[at]:
                continue  # set aside
            else:
                kept.append(event)
                window.ambiguous = True
        window.events = kept
    return windows


def throttles_merged(windows: list[Window]) -> list[Window]:
    """Drop the throttled attempts: a window whose event was throttled and sent again joins the resend.

    A throttled attempt is neither accepted nor rejected, so it is not judged; an attempt still
    throttled when the client gave up is dropped with its rate-limit error.
    """
    out: list[Window] = []
    carried: list[Event] = []
    for index, window in enumerate(windows):
        window.events[:0] = carried
        carried = []
        throttled = [e for e in window.events if is_throttle(e.data)]
        if not throttled:
            out.append(window)
            continue
        rest = [e for e in window.events if not is_throttle(e.data)]
        following = windows[index + 1] if index + 1 < len(windows) else None
        if following is not None and following.sent.text == window.sent.text:
            carried = rest
            following.ambiguous = following.ambiguous or window.ambiguous
        elif any(e.type in window.answer_types for e in rest):
            window.events = rest
            out.append(window)
    return out


def order_pairable(
    windows: list[Window], own_ids: list[str | None], clean: list[bool], extra: Event | None
) -> list[bool]:
    """For each window, whether pairing by order is certain for it.

    The client sends the next event once the first answer arrived, so pairing by order holds
    unless some event got a second answer (or one came unasked): then every later answer may be
    one window off, up to the next clean window (the client waited out the timeout before it).
    So the windows from one clean window to the next are pairable together, or not at all: when
    none holds two answers and the surplus session.updated (if any) is not among them, nor in the
    next clean window (where the last event's own answer would be, had one window been off).
    Errors echoing the window's own event are its own and shift nothing: together they count as one.
    """

    def answers(window: Window, own_id: str | None) -> int:
        found = window.answers()
        echoed = sum(1 for e in found if own_id is not None and e.echo == own_id)
        return len(found) - echoed + min(echoed, 1)

    out = [False] * len(windows)
    starts = [i for i, is_clean in enumerate(clean) if is_clean] + [len(windows)]
    for start, stop in itertools.pairwise(starts):
        reach = range(start, min(stop + 1, len(windows)))
        ok = all(answers(windows[i], own_ids[i]) <= 1 and extra not in windows[i].events for i in reach)
        out[start:stop] = [ok] * (stop - start)
    return out
