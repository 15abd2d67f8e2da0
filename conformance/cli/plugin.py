"""The pytest plugin: `pytest --pyargs conformance.suite [--rc-target …]` runs the suite, one item per requirement.

Its options are the run options of `realtime-conformance run`, namespaced `--rc-…`, from the same table.

The exchanges run once per session (the first requirement asks for them; under pytest-xdist, the
controller before its workers start); each item then reports its requirement as passed, failed (naming
the violations), xfailed (a baseline's) or skipped (with why). The report dir (summary.json, Allure
results, transcripts) is written once, by the controller, from the run's `Outcome`; allure-pytest adds
nothing of its own. `realtime-conformance run` drives the same plugin through `pytest.main`, handing
it its `Settings`.
"""

from __future__ import annotations

import argparse
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.items import ItemReports, item_reports
from conformance.cli.options import RUN_OPTIONS, add_pytest_options
from conformance.cli.settings_check import UsageError, settings_from
from conformance.contract import DEFAULT_DIALECT, load_contract
from conformance.redact import redactor
from conformance.reports.allure import write_results
from conformance.reports.junit import annotate_junit
from conformance.reports.summary import write_summary
from conformance.run.engine import Outcome, Settings, run
from conformance.wire.auth import auth_from_env as auth_from_env

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

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.outcome is None:
            return
        safe = redactor(self.settings.auth.secrets)
        line = (
            f"realtime-conformance verdict: {self.outcome.verdict} (seed {self.outcome.seed}, "
            f"target {safe.url(self.outcome.url)}); report: {self.report_dir}"
        )
        if self.outcome.incomplete is not None:
            line += f"\nnot fully tested: {safe.text(self.outcome.incomplete)}"
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
            reporter.write_line(f"[realtime-conformance] {safe.text(line)}")

    return say


#: Settings of `realtime-conformance run` alone: the settings file, rendering, the console, workers and
#: reruns (which swap or place whole report dirs). Every other run option is also a pytest option.
CLI_ONLY = frozenset(
    {"config", "no-html", "history", "quiet", "sign-key", "rerun-failed", "workers", "xdist-option", "junit-prefix"}
)
#: The pytest options are namespaced (--rc-target, --rc-profile, …): this plugin is loaded into every
#: pytest session of the environment, where another plugin may own --profile (pytest-profiling) or --timeout.
PREFIX = "--rc-"
PLUGIN_OPTIONS = tuple(o for o in RUN_OPTIONS if o.name not in CLI_ONLY and not o.positional)
SUITE_DIR = Path(__file__).resolve().parents[1] / "suite"
SUITE_MODULE = "conformance.suite"
SELF = __name__  # this plugin, loaded by name where autoloading is off


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime-conformance", "Realtime API session configuration conformance")
    add_pytest_options(group.addoption, {o.name: PREFIX + o.name for o in PLUGIN_OPTIONS}, {})
    group.addoption("--rc-shards", default=None, help=argparse.SUPPRESS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The suite's items: one per requirement of the run's dialect's catalogue (never the default
    dialect's, whose IDs differ); the shard items (conformance/shards): one per share of the planned connections."""
    if "requirement_id" in metafunc.fixturenames:
        metafunc.parametrize("requirement_id", load_contract(None, dialect_of(metafunc.config)).ids)
    if "shard" in metafunc.fixturenames:
        spec = metafunc.config.getoption("--rc-shards")
        metafunc.parametrize("shard", range(json.loads(spec)["shards"] if spec else 0))


def dialect_of(config: pytest.Config) -> str:
    """The run's dialect: its settings' when a session is registered (`run`, `replay`), else --rc-dialect
    (a pytest-xdist worker gets the controller's command line)."""
    plugin = registered(config)
    if isinstance(plugin, ConformanceSession):
        return plugin.settings.dialect
    return str(config.getoption(PREFIX + "dialect", None) or DEFAULT_DIALECT)


def runs_the_suite(config: pytest.Config) -> bool:
    """Whether this pytest session was asked for the conformance suite (by name, by path, or by an --rc- option)."""
    for arg in config.invocation_params.args:
        text = str(arg)
        if text.startswith(PREFIX) and not text.startswith("--rc-shards"):
            return True
    for arg in config.args:
        text = str(arg).split("::", 1)[0]
        if text == SUITE_MODULE or text.startswith(SUITE_MODULE + "."):
            return True
        try:
            path = Path(text).resolve()
        except (OSError, ValueError):
            continue
        if path == SUITE_DIR or SUITE_DIR in path.parents:
            return True
    return False


def settings_of(config: pytest.Config) -> tuple[Settings, Path]:
    """The run's settings from the --rc- options, checked exactly as `realtime-conformance run` checks its own."""
    values = {o.dest: o.argparse_kwargs(o.default)["default"] for o in RUN_OPTIONS if not o.positional}
    for option in PLUGIN_OPTIONS:
        values[option.dest] = config.getoption(PREFIX + option.name)
    args = argparse.Namespace(**values)
    try:
        return settings_from(args), Path(args.report_dir)
    except UsageError as exc:
        raise pytest.UsageError(f"realtime-conformance: {exc}") from None


def registered(config: pytest.Config) -> ConformanceSession | WorkerSession | None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(plugin, ConformanceSession | WorkerSession):
        return plugin
    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, ConformanceSession)), None)


def start_session(config: pytest.Config) -> ConformanceSession:
    settings, report_dir = settings_of(config)
    given = getattr(config.option, "allure_report_dir", None)  # allure-pytest's --alluredir, when given
    session = ConformanceSession(settings, report_dir, standalone=True, allure_dir=Path(given) if given else None)
    config.pluginmanager.register(session, PLUGIN_NAME)
    return session


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Run by `pytest --pyargs conformance.suite`: check the options now, and write JUnit into the report dir
    as `realtime-conformance run` does, unless --junitxml says otherwise (before the JUnit plugin configures
    itself, hence tryfirst). The Allure results are written from the outcome (`reports.allure`), into
    --alluredir when given (allure-pytest's copies of the items are then replaced), else into the report dir.
    A pytest-xdist worker takes the items' reports the controller sent."""
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        if WORKER_KEY in worker_input and registered(config) is None:
            config.pluginmanager.register(WorkerSession(ItemReports.from_json(worker_input[WORKER_KEY])), PLUGIN_NAME)
        return
    if registered(config) is not None or not runs_the_suite(config):
        return
    session = start_session(config)
    if not config.option.xmlpath:
        config.option.xmlpath = str(session.report_dir / "junit.xml")


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest) -> ItemReports:
    """The items' reports, from the one run; a target that could not be tested makes every item an error."""
    plugin = registered(request.config)
    if plugin is None:
        if hasattr(request.config, "workerinput"):  # never a second run on a worker, writing the same report dir
            pytest.fail("realtime-conformance: this pytest-xdist worker got no results from the controller")
        try:
            plugin = start_session(request.config)
        except pytest.UsageError as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    settings = plugin.settings if isinstance(plugin, ConformanceSession) else Settings()
    reports = plugin.reports(terminal_say(request.config, settings))
    if reports.blocked is not None:
        pytest.fail(reports.blocked, pytrace=False)
    return reports


def report_requirement(reports: ItemReports, requirement_id: str) -> None:
    """Pass, fail (naming the violations), xfail (a baseline's expected failure) or skip (saying why)."""
    item = reports.items[requirement_id]
    if item.outcome == "failed":
        pytest.fail(item.message, pytrace=False)
    if item.outcome == "xfailed":
        pytest.xfail(item.message)
    if item.outcome == "skipped":
        pytest.skip(item.message)


def write_report(outcome: Outcome, report_dir: Path, junit_prefix: str = "") -> ConformanceSession:
    """The report dir of an outcome judged elsewhere (`replay`): the suite's items report it, so junit.xml,
    summary.json, the Allure results and the transcripts are those a run writes."""
    import os

    session = ConformanceSession(outcome.settings, report_dir, lambda _: None, outcome)
    args = [str(SUITE_DIR), "-c", str(SUITE_DIR / "pytest.ini"), "--rootdir", str(SUITE_DIR)]
    args += ["-p", SELF, "-p", "no:cacheprovider", "-p", "no:terminal", f"--junit-prefix={junit_prefix}"]
    args += [f"--junitxml={report_dir / 'junit.xml'}", "-o", "junit_suite_name=realtime-conformance"]
    args += ["-o", "junit_family=xunit2"]
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only this plugin: another could change the items
    try:
        pytest.main(args, plugins=[session])
    finally:
        if previous is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous
    return session
