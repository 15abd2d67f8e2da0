"""The suite's pytest session object: runs the exchanges once and reports each requirement from the outcome.

Registered as a plugin (conformance.cli.plugin registers it, or `run` hands it to `pytest.main`);
under pytest-xdist only the controller runs and writes, the workers get the items' reports.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.items import ItemReports, item_reports
from conformance.redact import redactor
from conformance.reports.allure import write_results
from conformance.reports.junit import annotate_junit
from conformance.reports.summary import write_summary
from conformance.run.engine import Outcome, Settings, run

PLUGIN_NAME = "realtime-conformance-session"
WORKER_KEY = "realtime_conformance_items"  # the items' reports in a pytest-xdist worker's input
VERDICT_EXIT = {"conformant": 0, "non-conformant": 1, "error": 3}  # the CLI's exit codes
INTERNAL_EXIT = 4


class ConformanceSession:
    """Runs the exchanges once and answers for each requirement; registered as a pytest plugin.

    Under pytest-xdist (`-n N`) the controller runs the exchanges before the workers start and hands
    each worker the items' reports (`ItemReports`); only the controller writes the report dir.
    """

    def __init__(
        self,
        settings: Settings,
        report_dir: Path,
        say: Callable[[str], None] | None = None,
        outcome: Outcome | None = None,
        standalone: bool = False,
        allure_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.standalone = standalone  # run by plain pytest: the session's exit status is the verdict's
        self.report_dir = report_dir
        self.allure_dir = allure_dir or report_dir / "allure-results"
        self.say = say  # where progress goes; None: the pytest terminal
        self.outcome: Outcome | None = outcome  # given when workers already ran the exchanges
        self.internal_error: str | None = None
        self._reports: ItemReports | None = None

    def ensure_run(self, say: Callable[[str], None]) -> Outcome | None:
        if self.outcome is None and self.internal_error is None:
            try:
                self.outcome = run(self.settings, self.say or say, self.report_dir / "transcripts")
            except Exception:  # a bug of ours: keep the traceback for exit code 4
                self.internal_error = traceback.format_exc()
        return self.outcome

    def reports(self, say: Callable[[str], None]) -> ItemReports:
        """The items' reports, running the exchanges first if they have not run yet."""
        if self._reports is None:
            outcome = self.ensure_run(say)
            if outcome is None:
                shown = redactor(self.settings.auth.secrets).text(self.internal_error or "")
                self._reports = ItemReports({}, f"internal error of realtime-conformance:\n{shown}")
            else:
                self._reports = item_reports(outcome, self.settings.auth.secrets)
        return self._reports

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """With --rerun-failed, only the requirements that failed last time are run and reported."""
        if self.settings.selected is None:
            return
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            callspec = getattr(item, "callspec", None)
            rid = callspec.params.get("requirement_id") if callspec is not None else None
            (keep if rid in self.settings.selected else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Under pytest-xdist, run the exchanges here, once, before the workers start (they only report)."""
        if session.config.pluginmanager.has_plugin("dsession"):
            self.reports(terminal_say(session.config, self.settings))

    @pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent when xdist is not loaded
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: each worker gets the items' reports with its start-up input."""
        node.workerinput[WORKER_KEY] = self.reports(terminal_say(node.config, self.settings)).to_json()

    @pytest.hookimpl(trylast=True)  # after the JUnit plugin wrote its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.outcome is None:
            if self.standalone and self.internal_error is not None:
                session.exitstatus = INTERNAL_EXIT
            return
        write_summary(self.outcome, self.report_dir)
        write_results(self.outcome, self.allure_dir)
        xmlpath = getattr(session.config.option, "xmlpath", None)
        if xmlpath and Path(xmlpath).is_file():
            annotate_junit(Path(xmlpath), self.outcome)
        # Plain pytest exits as `realtime-conformance run` does: 0 conformant (a SHOULD failure without
        # --rc-strict, or an expected one, does not fail it), 1 non-conformant, 3 not fully testable.
        if self.standalone and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = VERDICT_EXIT[self.outcome.verdict]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.outcome is None:
            return
        safe = redactor(self.settings.auth.secrets)
        line = (
            f"realtime-conformance verdict: {self.outcome.verdict} (seed {self.outcome.seed}, "
            f"target {safe.url(self.outcome.url)}); report: {self.report_dir}"
        )
        if self.outcome.not_fully_tested is not None:
            line += f"\nnot fully tested: {safe.text(self.outcome.not_fully_tested)}"
        terminalreporter.write_line(line, bold=True)


class WorkerSession:
    """A pytest-xdist worker's end: the items' reports the controller sent; it runs and writes nothing."""

    def __init__(self, reports: ItemReports) -> None:
        self._reports = reports

    def reports(self, say: Callable[[str], None]) -> ItemReports:
        return self._reports


def terminal_say(config: pytest.Config, settings: Settings) -> Callable[[str], None]:
    """Progress lines on pytest's terminal, masked."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    safe = redactor(settings.auth.secrets)

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[realtime-conformance] {safe.line(line)}")

    return say
