"""The CI examples parse, and every realtime-conformance command in them is one the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from conformance.cli import parser

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


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
    from conformance.baseline import load_baseline
    from conformance.contract import load_contract

    entries = load_baseline(EXAMPLES / "expected-failures.yaml", set(load_contract().ids))
    assert [e.id for e in entries] == ["EX-REFLECT"] and entries[0].expires is not None
