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
from pathlib import Path

import pytest

from conformance.cli.items import ItemReports
from conformance.cli.options import RUN_OPTIONS, add_pytest_options
from conformance.cli.settings_check import UsageError, settings_from
from conformance.cli.suite_session import (
    INTERNAL_EXIT,
    PLUGIN_NAME,
    VERDICT_EXIT,
    WORKER_KEY,
    ConformanceSession,
    WorkerSession,
    terminal_say,
)
from conformance.contract import DEFAULT_DIALECT, load_contract
from conformance.run.engine import Outcome, Settings
from conformance.wire.auth import auth_from_env as auth_from_env

__all__ = [
    "INTERNAL_EXIT",
    "PLUGIN_NAME",
    "VERDICT_EXIT",
    "WORKER_KEY",
    "ConformanceSession",
    "WorkerSession",
    "auth_from_env",
    "terminal_say",
]

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
