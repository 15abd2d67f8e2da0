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

from conformance.checks.pairing import frame_classified, frame_judged, frame_sent, opening_context
from conformance.contract import Contract
from conformance.contract.oracle import Context
from conformance.transcript import KEEP_PARSED_CHARS, Frame, Transcript, parsing_once

#: The most time one `take` spends: it runs on the event loop, where every other connection's frames
#: wait to be stamped meanwhile (a chatty server's hundred events are taken over several waits).
BUDGET_S = 0.002


#: Judged ahead: texts with fewer brackets than this, so nested less deep, whatever they hold.
SHALLOW = 256


def shallow(text: str | None) -> bool:
    """Whether judging `text` is the same wherever it runs: kept (at most `KEEP_PARSED_CHARS`), and nested
    too little to come near Python's recursion limit, which the standard library's parser and comparisons
    count from the caller's depth (the event loop's stack is not the judging thread's). Anything else is
    judged with the whole transcript, as it was before judging ahead."""
    return text is None or (len(text) <= KEEP_PARSED_CHARS and text.count("{") + text.count("[") < SHALLOW)


class Ahead:
    """One connection's frames, judged ahead as far as they were recorded (`take`)."""

    def __init__(self, contract: Contract, header: Transcript) -> None:
        self._contract = contract
        self._header = header  # the transcript's url and models, as judging reads them
        self._done = 0
        self._created: dict[str, Any] | None = None
        self._context: Context | None = None  # known at the first update sent

    def take(self, frames: Sequence[Frame], budget_s: float = BUDGET_S) -> None:
        """Judge ahead the frames after those taken before (`frames`: the connection's record so far), one
        at least and for about `budget_s` at most: what is left is taken next time, or judged with the
        whole transcript."""
        fresh = frames[self._done :]
        deadline = time.perf_counter() + budget_s
        with parsing_once(fresh):
            for frame in fresh:
                self._done += 1
                if frame.kind != "close" and shallow(frame.text):
                    self._judge(frame)
                if time.perf_counter() > deadline:
                    return

    def _judge(self, frame: Frame) -> None:
        contract = self._contract
        if frame.direction == "server":
            event = frame_judged(frame, contract)[3]
            created = event.session if event is not None and event.type == "session.created" else None
            if self._context is None and self._created is None and created is not None:
                self._created = created  # as judging takes it: the first, if before any update
            return
        answers = frame_sent(frame, contract).answers if frame.kind == "text" else ()
        if not answers:
            return
        if self._context is None:
            self._context = opening_context(self._header, self._created)
        classification = frame_classified(frame, contract, self._context)
        if "session.updated" in answers:
            self._context = self._context.after_accepting(classification)
