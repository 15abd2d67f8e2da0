"""`realtime-conformance run` (and `--rerun-failed`): the suite through pytest, its report swapped in once written."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import traceback
from dataclasses import replace
from pathlib import Path

from conformance import __version__, progress, signals
from conformance.certify import KeyFileError, manifest_settings, masking_problem, write_bundle
from conformance.cli.ending import AFTER_EXCHANGES, RENDERING_STOPPED, unfinished
from conformance.cli.exits import Exit, UsageError, fail
from conformance.cli.settings_check import settings_from
from conformance.cli.table import print_results
from conformance.generate.corpus import draw_ahead
from conformance.redact import Redactor, redactor
from conformance.reports.html import render_html
from conformance.run.engine import new_seed
from conformance.run.outcome import Outcome
from conformance.run.recorder import ALL, spool_name
from conformance.run.settings import Settings
from conformance.run.workers import WorkersRefused, run_on_workers, run_pytest
from conformance.staging import Staging

SUITE_DIR = Path(__file__).resolve().parents[1] / "suite"
RERUN_DIR = "rerun"
#: Where the transcripts of a run stopped by a bug of ours are kept (`salvage`).
INCOMPLETE = "incomplete-transcripts"
BUG = "internal error: this is a bug of realtime-conformance; please report it with the output above"


def cmd_run(args: argparse.Namespace) -> int:
    """Run the suite; the report is staged beside the previous one and swapped in once written."""
    if args.whole_process:  # a whole CLI process: Ctrl-C and SIGTERM end the run the same way (signals.py)
        signals.install()
    settings = settings_from(args)
    if args.whole_process and settings.profile != "smoke" and args.workers == 1:
        settings = replace(settings, seed=new_seed(settings))  # only a whole process may fork a drawing child
        assert settings.seed is not None
        draw_ahead(settings.seed, settings.connections, settings.dialect, settings.model_names)
    report_dir = Path(args.report_dir)
    if settings.selected is not None:  # a rerun goes beside the full report, which it never replaces
        report_dir = report_dir / RERUN_DIR
    if settings.selected == ():
        print(f"--rerun-failed: nothing failed in the last run in {report_dir}; nothing to rerun")
        return Exit.CONFORMANT
    staging = Staging(report_dir)
    try:
        work = staging.open()
    except OSError as exc:
        raise UsageError(f"--report-dir {report_dir}: {exc.strerror or exc}") from None
    try:
        with progress.shown(args.quiet):
            code = run_into(settings, args, work, staging)
    except UsageError:  # exit 2: nothing is written (a key file spoilt meanwhile, a report dir gone)
        raise
    except Exception:  # a bug of ours (main prints it, exit 4): what ran is kept all the same
        salvage(work, report_dir)
        raise
    else:
        if code == Exit.INTERNAL:
            salvage(work, report_dir)
        return code
    finally:
        staging.close()


def salvage(work: Path, report_dir: Path) -> None:
    """The transcripts of a run a bug of ours stopped before its report was in place, kept in the report dir
    (the last such run's only) and named in one line: re-judged with `validate`, they are what ran."""
    staged, kept = work / "transcripts", report_dir / INCOMPLETE
    if work == report_dir or not staged.is_dir():
        return
    with contextlib.suppress(OSError):
        shutil.rmtree(kept, ignore_errors=True)
        staged.rename(kept)
        if not (kept / ALL).exists() and (kept / spool_name()).exists():  # stopped before all.jsonl was written
            (kept / spool_name()).rename(kept / ALL)  # its connections in the order they ended
        print(f"realtime-conformance: what ran is kept in {kept} (re-judge it: validate {kept / ALL})", file=sys.stderr)


class Say:
    """Prints a progress line, its secrets masked, unless quiet; quiet for good once the reader left."""

    def __init__(self, safe: Redactor, quiet: bool) -> None:
        self.safe, self.quiet = safe, quiet

    def __call__(self, line: str) -> None:
        if self.quiet:
            return
        try:
            print(self.safe.line(line), flush=True)
        except BrokenPipeError:  # `run | head`: the reader left; the run (and its report) go on
            self.quiet = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_into(settings: Settings, args: argparse.Namespace, work: Path, staging: Staging) -> int:
    """The run, its report written into `work`, then swapped into the report dir; the exit code."""
    report_dir = staging.report_dir
    safe = redactor(settings.auth.secrets)  # every line printed below goes through it
    say = Say(safe, args.quiet)
    seed = f", seed {settings.seed}" if settings.seed is not None else ""
    say(f"realtime-conformance {__version__}: profile {settings.profile}, target {safe.url(settings.target)}{seed}")
    outcome = None
    if args.workers > 1:
        try:
            outcome = run_on_workers(settings, args.workers, args.xdist_option, say, work / "transcripts")
        except WorkersRefused as exc:
            raise UsageError(str(exc)) from None
        except Exception:  # judging what the workers sent failed: a bug of ours, shown as the serial run shows it
            print(traceback.format_exc(), file=sys.stderr)
            fail(BUG)
            return Exit.INTERNAL
    outcome = run_suite(settings, args.junit_prefix, work, say, outcome)
    if outcome is None:
        return Exit.INTERNAL
    if settings.profile == "certify":
        write_certificate(settings, outcome, work, report_dir, say, Path(args.sign_key) if args.sign_key else None)
    rendering_stopped = False
    if not args.no_html and not (outcome.interrupted or signals.received):
        rendering_stopped = render(work, args.history, report_dir, safe)
    try:
        staging.swap()
    except OSError as exc:
        raise UsageError(f"--report-dir {report_dir}: cannot put the new report in place: {exc}") from None
    progress.close()
    if not say.quiet:
        print_closing(outcome, report_dir, safe)
    return conclude(outcome, args, report_dir, safe, RENDERING_STOPPED if rendering_stopped else AFTER_EXCHANGES)


def run_suite(settings: Settings, junit_prefix: str, work: Path, say: Say, outcome: Outcome | None) -> Outcome | None:
    """The suite through pytest, one item per requirement (the exchanges run first unless workers ran them)."""
    # Not at the top: pytest imports the plugin first (run_pytest names it), to rewrite its asserts.
    from conformance.cli.plugin import ConformanceSession

    session = ConformanceSession(settings, work, say, outcome)
    pytest_args = [
        str(SUITE_DIR),
        "-c",
        str(SUITE_DIR / "pytest.ini"),
        "--rootdir",
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "--capture=no",
        f"--junit-prefix={junit_prefix}",
        f"--junitxml={work / 'junit.xml'}",
        "-o",
        "junit_suite_name=realtime-conformance",
        "-o",
        "junit_family=xunit2",
    ]
    run_pytest(pytest_args, [session])
    if session.internal_error is not None or session.outcome is None:
        print(say.safe.text(session.internal_error or "the suite did not run"), file=sys.stderr)
        fail(BUG)
        return None
    return session.outcome


def write_certificate(
    settings: Settings, outcome: Outcome, work: Path, report_dir: Path, say: Say, sign_key: Path | None
) -> None:
    """The certification bundle, signed with `sign_key` when given; a warning if masking looks incomplete."""
    try:
        bundle = write_bundle(work, manifest_settings(settings, outcome.record.tls_fingerprint), sign_key, say.safe)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    bundle = report_dir / bundle.relative_to(work)
    say(f"certification bundle: {bundle}" + (" (signed)" if sign_key else " (unsigned: give --sign-key)"))
    problem = masking_problem(work)
    if problem is not None:
        print(f"realtime-conformance: warning: {say.safe.line(problem)}", file=sys.stderr)


def render(work: Path, history: bool, report_dir: Path, safe: Redactor) -> bool:
    """The Allure HTML report; a problem rendering it is said, never the run's failure. True when a signal
    stopped it (the run's one closing line says so)."""
    try:
        with signals.armed():
            progress.begin("rendering")
            problem = render_html(work, history=history, shown_as=report_dir)
            progress.end("rendering")
    except KeyboardInterrupt:
        signals.noted()
        for partial in (work / "allure-report", work / "allure-single"):  # never half a report put in place
            shutil.rmtree(partial, ignore_errors=True)
        (work / "allure-report.html").unlink(missing_ok=True)
        return True
    if problem is not None:
        print(safe.text(problem), file=sys.stderr)
    return False


def print_closing(outcome: Outcome, report_dir: Path, safe: Redactor) -> None:
    """The results table, and how to re-judge each failing connection's transcript."""
    print()
    print_results(outcome.results, safe, frozenset(outcome.baseline.expected if outcome.baseline else ()))
    failing = sorted((report_dir / "transcripts").glob("[0-9]*.jsonl"))
    for path in failing[:10]:
        print(f"re-judge: {own_command()} validate {path}")
    if len(failing) > 10:
        print(f"… and {len(failing) - 10} more transcripts under {report_dir / 'transcripts'}")


def conclude(outcome: Outcome, args: argparse.Namespace, report_dir: Path, safe: Redactor, stage: str) -> int:
    """The verdict line (or the rerun's), why the run is incomplete if it is, and the exit code."""
    settings = outcome.settings
    if settings.selected is not None:
        rerun_code = rerun_result(outcome, report_dir, safe)
    else:
        print(
            f"verdict: {outcome.verdict} — seed {outcome.seed}, {outcome.judgement.exchanges} exchanges, "
            f"{outcome.duration_s:.1f}s; report: {report_dir}"
        )
    code = unfinished(outcome, args, report_dir, safe, stage)
    if code is not None:
        return code
    if settings.selected is not None:
        return rerun_code
    return Exit.CONFORMANT if outcome.verdict == "conformant" else Exit.NON_CONFORMANT


def rerun_result(outcome: Outcome, report_dir: Path, safe: Redactor) -> int:
    """A partial rerun is no verdict on the target: say how many of the failed requirements now pass.

    Exit 0 when all of them now pass, 1 when any still fails (3, 4 and 130 as for a full run); the full
    run's report is left as it was.
    """
    selected = set(outcome.settings.selected or ())
    results = [r for r in outcome.results if r.requirement.id in selected]
    passing = sum(1 for r in results if r.status == "passed")
    still = [r.requirement.id for r in results if r.status == "failed"]
    print(
        f"rerun: {passing} of {len(selected)} failed requirements now pass"
        + (f"; still failing: {', '.join(still)}" if still else "")
        + f" — seed {outcome.seed}, target {safe.url(outcome.url)}; not a verdict on the target (run the whole "
        f"suite for one); report: {report_dir}"
    )
    return Exit.CONFORMANT if passing == len(selected) else Exit.NON_CONFORMANT


def own_command() -> str:
    """How the user can run this command again: its name when that is on PATH, else the path they ran."""
    invoked = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "realtime-conformance" else ""
    on_path = shutil.which("realtime-conformance")
    if invoked and (on_path is None or Path(on_path).resolve() != Path(invoked).resolve()):
        return invoked
    return "realtime-conformance"
