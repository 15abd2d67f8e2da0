"""Judging ahead: while a connection waits for an answer, the judging that depends on one frame alone
is done on the frames recorded so far, and kept with each frame (`Frame.derived`).

That is each server frame's wire and schema checks, what each sent frame is and awaits, and each
awaited update's classification in the context the connection is expected to be in (the one it
opened with, switched by the updates before it as if accepted). Judging the whole transcript
later takes that work from the frames instead of doing it again: on one connection to a target that
answers in tens of microseconds, most of judging then overlaps the target's time to answer. Kept
work is used only for the same contract and context, so the verdict is the same whether any was
done ahead or none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from conformance.checks.frames import Unexplained
from conformance.checks.pairing import frame_classified, frame_judged, frame_sent, opening_context
from conformance.contract import Contract
from conformance.contract.oracle import Context
from conformance.transcript import Frame, Transcript, parsing_once, remember

#: The most time one `take` spends: it runs on the event loop, where every other connection's frames
#: wait to be stamped meanwhile (a chatty server's hundred events are taken over several waits).
BUDGET_S = 0.002


class Ahead:
    """One connection's frames, judged ahead as far as they were recorded (`take`).

    Only what takes little time, and what is the same wherever it is computed: `steady` texts, and of
    the server's events those its schema accepts at once (explaining an invalid one may take long).
    The rest is judged with the whole transcript, as it was before any was judged ahead.
    """

    def __init__(self, contract: Contract, header: Transcript) -> None:
        self._contract = contract
        self._header = header  # the transcript's url and models, as judging reads them
        self._done = 0
        self._created: dict[str, Any] | None = None
        self._context: Context | None = None  # known at the first update sent
        #: No update is classified ahead: a server frame before the first was left to judging, and the context
        #: expected could compare equal to judging's and not be it (a session type 1 against true).
        self._unsure = False
        self._off = False  # judging ahead failed (a bug of ours, which judging the transcript then reports)

    def take(self, frames: Sequence[Frame], budget_s: float = BUDGET_S) -> None:
        """Judge ahead the frames after those taken before (`frames`: the connection's record so far), one
        at least and for about `budget_s` at most: what is left is taken next time, or judged with the
        whole transcript."""
        deadline = time.perf_counter() + budget_s
        try:
            # frame by frame, never the whole backlog at once: a flood left over from earlier takes is
            # taken a budget at a time, so each take costs its budget, not the length of what waits
            with parsing_once():
                for index in range(self._done, len(frames)):
                    frame = frames[index]
                    self._done += 1
                    remember(frame)
                    self._judge(frame)
                    if time.perf_counter() > deadline:
                        return
        except Exception:  # judging the whole transcript meets it again, and reports it as ours (exit 4)
            self._off = True

    def _judge(self, frame: Frame) -> None:
        if frame.kind == "close" or self._off:
            return
        contract = self._contract
        if frame.direction == "server":
            try:
                event = frame_judged(frame, contract, explain=False)[3] if frame.steady else None
            except Unexplained:
                event = None
            if event is None and self._context is None and frame.kind == "text":
                self._unsure = True  # a session.created left to judging, maybe
            created = event.session if event is not None and event.type == "session.created" else None
            if self._context is None and self._created is None and created is not None:
                self._created = created  # as judging takes it: the first, if before any update
            return
        answers = frame_sent(frame, contract).answers if frame.kind == "text" else ()
        if not answers or self._unsure or not frame.steady:
            return
        if self._context is None:
            self._context = opening_context(self._header, self._created)
        classification = frame_classified(frame, contract, self._context)
        if "session.updated" in answers:
            self._context = self._context.after_accepting(classification)
