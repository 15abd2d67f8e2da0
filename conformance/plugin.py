"""The pytest plugin: `pytest --target …` runs the suite, one test item per requirement.

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

from conformance.allure import write_results
from conformance.auth import auth_from_env as auth_from_env
from conformance.engine import Outcome, Settings, run
from conformance.options import add_pytest_options
from conformance.redact import redactor
from conformance.report import transcripts_for, write_summary
from conformance.results import RequirementResult

PLUGIN_NAME = "realtime-conformance-session"
SEVERITY = {"MUST": "critical", "SHOULD": "normal"}
ATTACHMENT_CHARS = 1 << 20  # a larger transcript is not copied into each failed requirement's result


class ConformanceSession:
    """Runs the exchanges once and answers for each requirement; registered as a pytest plugin."""

    def __init__(
        self,
        settings: Settings,
        report_dir: Path,
        say: Callable[[str], None] | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        self.settings = settings
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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.outcome is not None:
            write_summary(self.outcome, self.report_dir)
            write_results(self.outcome, self.report_dir / "allure-results")


#: The plugin's options (named as they always were) and the settings they are; their types, choices
#: and bounds come from the same table as the command line's (conformance/options.py).
PYTEST_OPTIONS = {
    "target": "--target",
    "profile": "--profile",
    "seed": "--seed",
    "report-dir": "--report-dir",
    "model": "--model",
    "timeout": "--rc-timeout",
    "api-key-env": "--api-key-env",
    "iam-token-env": "--iam-token-env",
    "header": "--header",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime-conformance", "Realtime API session configuration conformance")
    # --target has no default here: without it, installing the plugin changes nothing
    add_pytest_options(group.addoption, PYTEST_OPTIONS, {"target": None})
    group.addoption("--rc-shards", default=None, help=argparse.SUPPRESS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The shard items (conformance/shards): one per share of the planned connections."""
    if "shard" in metafunc.fixturenames:
        spec = metafunc.config.getoption("--rc-shards")
        metafunc.parametrize("shard", range(json.loads(spec)["shards"] if spec else 0))


def pytest_configure(config: pytest.Config) -> None:
    already = any(isinstance(p, ConformanceSession) for p in config.pluginmanager.get_plugins())
    if already or config.getoption("--target") is None:
        return
    try:
        auth = auth_from_env(
            config.getoption("--api-key-env"),
            config.getoption("--iam-token-env"),
            config.getoption("--header"),
            config.getoption("--target"),
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    settings = Settings(
        target=config.getoption("--target"),
        profile=config.getoption("--profile"),
        seed=config.getoption("--seed"),
        timeout_s=config.getoption("--rc-timeout"),
        models=tuple(config.getoption("--model")),
        auth=auth,
        auth_spec=(
            config.getoption("--api-key-env"),
            config.getoption("--iam-token-env"),
            tuple(config.getoption("--header")),
        ),
    )
    config.pluginmanager.register(ConformanceSession(settings, Path(config.getoption("--report-dir"))), PLUGIN_NAME)


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest) -> ConformanceSession:
    plugins = [p for p in request.config.pluginmanager.get_plugins() if isinstance(p, ConformanceSession)]
    if not plugins:
        pytest.skip("no conformance target: pass --target mock or --target ws://…")
    plugin = plugins[0]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    safe = redactor(plugin.settings.auth.secrets)

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[realtime-conformance] {safe.text(line)}")

    outcome = plugin.ensure_run(say)
    if outcome is None:
        shown = redactor(plugin.settings.auth.secrets).text(plugin.internal_error or "")
        pytest.fail(f"internal error of realtime-conformance:\n{shown}", pytrace=False)
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
