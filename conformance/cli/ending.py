"""How a run or a replay ends when it gives no verdict: a bug of ours (4, with its traceback),
interrupted (130), not fully testable (3); one place, so `run` and `replay` exit alike."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from conformance import signals
from conformance.cli.exits import INTERRUPTED, Exit, fail
from conformance.redact import Redactor
from conformance.run.engine import Outcome

#: When a signal that came once the exchanges were judged stopped the run (`unfinished`'s `stage`).
AFTER_EXCHANGES = "after the exchanges; the report of the whole run is written"
RENDERING_STOPPED = "while rendering the HTML report, which is not written; the rest of the report is"


def unfinished(
    outcome: Outcome, args: argparse.Namespace, report_dir: Path, safe: Redactor, stage: str = AFTER_EXCHANGES
) -> int | None:
    """Why a run (or a replay) gives no verdict, said in one line, with its exit code: 4 a bug of ours (with
    its traceback), 130 interrupted, 3 not fully testable (or tested too thinly to certify); None when its
    verdict stands (an incomplete run's failures are still failures: non-conformant)."""
    if outcome.internal_error is not None:
        print(safe.text(outcome.internal_error), file=sys.stderr)  # a traceback may quote a frame or a header
        fail(
            "internal error: this is a bug of realtime-conformance; please report it with the traceback above "
            f"(what ran is reported in {report_dir / 'summary.json'})"
        )
        return Exit.INTERNAL
    interrupted = outcome.interrupted or bool(signals.received)
    if outcome.not_fully_tested is not None:
        fail(safe.text(outcome.not_fully_tested + credential_hint(outcome, args)))
    elif interrupted:
        fail(f"interrupted ({signals.name()}) {stage}")
    if interrupted:
        return INTERRUPTED
    if outcome.verdict == "error":
        return Exit.UNREACHABLE
    return None


def credential_hint(outcome: Outcome, args: argparse.Namespace) -> str:
    """For a handshake refused with 401/403: which option or variable to set."""
    failure = outcome.failure
    if failure is None or failure.status not in (401, 403):
        return ""
    if urlsplit(outcome.settings.target).username is not None:  # websockets sends it: no header of ours
        return "; the credential in the target URL (user:password, sent as Basic) was rejected"
    if not outcome.settings.auth.headers:
        return (
            f"; no credential was sent: set ${args.api_key_env} (or name another variable with --api-key-env, "
            f"or give an IAM token with --iam-token-env NAME)"
        )
    source = f"${args.iam_token_env}" if args.iam_token_env else f"${args.api_key_env}"
    return f"; the credential from {source} (or a --header) was rejected"
