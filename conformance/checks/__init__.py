"""Checks: pure functions from frames and events to violations, each naming a requirement ID.

- `frames`: the wire checks of the server frames (registered), and each event against its
  schema, where each keyword names the requirement it judges (`x-requirement`);
- `connection`, `windows`, `pairing`: a transcript parsed into steps, each awaited client event
  (the event registry says which) with its own answers;
- `registry`: the one check registry (requirement, preconditions, precedence as data);
  `answers` and `configuration` hold the exchange checks registered there;
- `findings`: `Violation` and the frozen `Judgement`; `judge`: the entry points.
No I/O here.
"""

from conformance.checks.answers import ANSWERED
from conformance.checks.connection import THROTTLE, is_throttle
from conformance.checks.findings import Judgement, Violation, describe_value, explainer
from conformance.checks.frames import check_event, check_frame, requirement_for
from conformance.checks.judge import judge, judge_all
from conformance.checks.pairing import JudgingStopped, sent_of, url_models
from conformance.checks.registry import CHECKS

__all__ = [
    "ANSWERED",
    "CHECKS",
    "THROTTLE",
    "Judgement",
    "JudgingStopped",
    "Violation",
    "check_event",
    "check_frame",
    "describe_value",
    "explainer",
    "is_throttle",
    "judge",
    "judge_all",
    "requirement_for",
    "sent_of",
    "url_models",
]
