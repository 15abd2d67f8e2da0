"""The pytest plugin: `pytest --pyargs conformance.suite [--rc-target …]` runs the suite, one item per requirement.

Its options are the run options of `realtime-conformance run`, namespaced `--rc-…`, from the same table.

The exchanges run once per session (the first requirement asks for them); each item then
reports its requirement as passed, failed (with the evidence) or skipped (with why), labelled
for Allure (epic = event, feature = field, story = requirement ID). `realtime-conformance run`
drives the same plugin through `pytest.main`, handing it its `Settings`.
"""

from __future__ import annotations

import argparse
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.options import RUN_OPTIONS, add_pytest_options
from conformance.cli.settings_check import UsageError, settings_from
from conformance.redact import redactor
from conformance.reports.allure import write_results
from conformance.reports.summary import annotate_junit, transcripts_for, write_summary
from conformance.run.engine import Outcome, Settings, run
from conformance.verdict.results import RequirementResult
from conformance.wire.auth import auth_from_env as auth_from_env

PLUGIN_NAME = "realtime-conformance-session"
SEVERITY = {"MUST": "critical", "SHOULD": "normal"}
VERDICT_EXIT = {"conformant": 0, "non-conformant": 1, "error": 3}  # the CLI's exit codes
ATTACHMENT_CHARS = 1 << 20  # a larger transcript is not copied into each failed requirement's result


class ConformanceSession:
    """Runs the exchanges once and answers for each requirement; registered as a pytest plugin."""

    def __init__(
        self,
        settings: Settings,
        report_dir: Path,
        say: Callable[[str], None] | None = None,
        outcome: Outcome | None = None,
        standalone: bool = False,
    ) -> None:
        self.settings = settings
        self.standalone = standalone  # run by plain pytest: the session's exit status is the verdict's
        self.report_dir = report_dir
        self.say = say  # where progress goes; None: the pytest terminal
        self.outcome: Outcome | None = outcome  # given when workers already ran the exchanges
        self.internal_error: str | None = None
        self._by_id: dict[str, RequirementResult] = {}

    def ensure_run(self, say: Callable[[str], None]) -> Outcome | None:
        if self.outcome is not None and not self._by_id:
            self._by_id = {r.requirement.id: r for r in self.outcome.results}
        if self.outcome is None and self.internal_error is None:
            try:
                self.outcome = run(self.settings, self.say or say, self.report_dir / "transcripts")
            except Exception:  # a bug of ours: keep the traceback for exit code 4
                self.internal_error = traceback.format_exc()
                return None
            self._by_id = {r.requirement.id: r for r in self.outcome.results}
        return self.outcome

    def result(self, requirement_id: str) -> RequirementResult:
        return self._by_id[requirement_id]

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

    @pytest.hookimpl(trylast=True)  # after the JUnit plugin wrote its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.outcome is None:
            return
        write_summary(self.outcome, self.report_dir)
        write_results(self.outcome, self.report_dir / "allure-results")
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime-conformance", "Realtime API session configuration conformance")
    add_pytest_options(group.addoption, {o.name: PREFIX + o.name for o in PLUGIN_OPTIONS}, {})
    group.addoption("--rc-shards", default=None, help=argparse.SUPPRESS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The shard items (conformance/shards): one per share of the planned connections."""
    if "shard" in metafunc.fixturenames:
        spec = metafunc.config.getoption("--rc-shards")
        metafunc.parametrize("shard", range(json.loads(spec)["shards"] if spec else 0))


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


def registered(config: pytest.Config) -> ConformanceSession | None:
    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, ConformanceSession)), None)


def start_session(config: pytest.Config) -> ConformanceSession:
    settings, report_dir = settings_of(config)
    session = ConformanceSession(settings, report_dir, standalone=True)
    config.pluginmanager.register(session, PLUGIN_NAME)
    return session


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Run by `pytest --pyargs conformance.suite`: check the options now, and write JUnit and Allure results
    into the report dir as `realtime-conformance run` does, unless --junitxml or --alluredir say otherwise.
    (Before the JUnit and Allure plugins configure themselves, hence tryfirst.)"""
    if registered(config) is not None or not runs_the_suite(config) or hasattr(config, "workerinput"):
        return
    session = start_session(config)
    if not config.option.xmlpath:
        config.option.xmlpath = str(session.report_dir / "junit.xml")
    if getattr(config.option, "allure_report_dir", "absent") is None:
        config.option.allure_report_dir = str(session.report_dir / "allure-results")
        config.option.clean_alluredir = True


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest) -> ConformanceSession:
    """The run, once per session; a target that could not be tested at all makes every item an error."""
    plugin = registered(request.config)
    if plugin is None:  # the suite was collected in a way runs_the_suite did not foresee
        try:
            plugin = start_session(request.config)
        except pytest.UsageError as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    safe = redactor(plugin.settings.auth.secrets)

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[realtime-conformance] {safe.text(line)}")

    outcome = plugin.ensure_run(say)
    if outcome is None:
        shown = redactor(plugin.settings.auth.secrets).text(plugin.internal_error or "")
        pytest.fail(f"internal error of realtime-conformance:\n{shown}", pytrace=False)
    if outcome.failure is not None:  # nothing could be tested: an error, never a skip a CI reads as green
        pytest.fail(safe.text(f"not run: the target could not be tested: {outcome.failure.message}"), pytrace=False)
    return plugin


def report_requirement(session: ConformanceSession, requirement_id: str) -> None:
    """Label the current item for Allure, attach the evidence, and pass, fail or skip it."""
    import allure

    dynamic: Any = allure.dynamic  # allure-pytest ships without type hints
    assert session.outcome is not None
    result = session.result(requirement_id)
    r = result.requirement
    dynamic.title(f"{r.id}: {r.title}")
    dynamic.epic(r.event)
    dynamic.feature(r.path)
    dynamic.story(r.id)
    dynamic.severity(SEVERITY[r.level])
    dynamic.tag(r.level)
    dynamic.label("requirement", r.id)
    dynamic.description(f"**{r.level}** — {r.title}\n\n> {r.source.quote}\n\n— {r.source.document}, at `{r.path}`")
    dynamic.parameter("exchanges", str(result.exercised))
    failure = session.outcome.failure
    baseline = session.outcome.baseline
    safe = redactor(session.settings.auth.secrets)  # everything below reaches JUnit and Allure
    if result.status == "failed" and baseline is not None and r.id in baseline.expected:
        first = result.violations[0].message if result.violations else result.reason
        pytest.xfail(safe.text(f"expected failure (baseline {baseline.file}): {first}"))
    if result.status == "failed":
        for transcript in transcripts_for(session.outcome, result)[:5]:
            text = transcript.to_jsonl(safe)
            if len(text) > ATTACHMENT_CHARS:  # a flooded connection: one copy, in transcripts/, is enough
                text = f'{{"omitted": "{len(text)} characters; see transcripts/ in the report dir"}}\n'
            allure.attach(
                text,
                name=safe.text(f"transcript: {transcript.label}"),
                attachment_type=allure.attachment_type.JSON,
                extension="jsonl",
            )
        lines = [f"[{r.level}] {r.id}: {r.title}"]
        lines += [
            f"- {v.message}" + (f"\n  sent: {v.sent.describe(safe)[:300]}" if v.sent else "")
            for v in result.violations[:10]
        ]
        if not result.violations:
            lines.append(f"- {result.reason}")
        if result.violation_count > 10:
            lines.append(f"- … and {result.violation_count - 10} more (see summary.json)")
        pytest.fail(safe.text("\n".join(lines)), pytrace=False)
    if result.status == "skipped":
        if failure is not None:
            pytest.skip(safe.text(f"not run: {failure.message}"))
        pytest.skip(safe.text(result.reason))
