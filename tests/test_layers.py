"""The layers hold at run time too: offline verification loads no run, mock, generator or network code.

import-linter (`lint-imports`, run by .ci/run) checks the static graph; this checks what a fresh
interpreter really loads, so a lazy import or a re-export cannot hide the engine behind verify.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "conformance.run.engine",
    "conformance.run.runner",
    "conformance.mock",
    "conformance.generate",
    "conformance.wire.transport",
    "hypothesis",
    "schemathesis",
    "websockets",
)


def loaded_by(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module", ["conformance.certify", "conformance.verdict", "conformance.cli.verify"])
def test_offline_verification_loads_nothing_of_a_run(module: str) -> None:
    """`conformance.cli.verify` is what `realtime-conformance verify` runs: the command, not only the library."""
    loaded = loaded_by(module)
    assert module in loaded  # the probe works: it sees what it imported
    assert sorted(name for name in HEAVY if name in loaded) == []


def test_generation_reaches_plans_without_the_runner() -> None:
    loaded = loaded_by("conformance.generate")
    assert (
        "conformance.generate.plan" in loaded
        and "conformance.run.runner" not in loaded
        and "conformance.wire.transport" not in loaded
    )


def test_the_cli_and_the_workers_get_credentials_without_loading_the_pytest_plugin() -> None:
    """pytest imports the plugin itself (to rewrite its asserts); auth lives below it."""
    for module in ("conformance.cli.main", "conformance.run.distribute"):
        loaded = loaded_by(module)
        assert "conformance.wire.auth" in loaded and "conformance.cli.plugin" not in loaded, module
