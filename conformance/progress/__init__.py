"""How far a run is: one live display on a terminal (rich), a few plain lines elsewhere (CI), none with --quiet.

The engine reports phases (`begin`, `step`, `end`: drawing, exchanges, shrinking, rendering) to the
display the CLI installed (`phases`, `terminal`); with none installed (the pytest plugin, a library
call) they cost nothing. pytest-xdist workers report through small files the controller reads
(`workers`), so a run spread over workers shows one display too.
"""

from conformance.progress.phases import Display, begin, close, current, end, say, step
from conformance.progress.terminal import PLAIN_LINES, LiveBars, PlainLines, shown
from conformance.progress.workers import from_workers, report_to_controller

__all__ = [
    "PLAIN_LINES",
    "Display",
    "LiveBars",
    "PlainLines",
    "begin",
    "close",
    "current",
    "end",
    "from_workers",
    "report_to_controller",
    "say",
    "shown",
    "step",
]
