"""The spec's files: every dialect's data is found one way (spec_file), hashed, and shipped in the wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

import pytest

from conformance.contract import DEFAULT_DIALECT, DIALECTS, SPEC_DIR, read_json, spec_file, spec_files
from conformance.generate import scripted_plans

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = SPEC_DIR.parent


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialects_scripted_plans_are_spec_files_the_hash_covers(dialect: str) -> None:
    source = spec_file("scripted.json", dialect)
    assert source in spec_files()
    labels = [connection["label"] for connection in read_json(source)["connections"]]
    assert [plan.label for plan in scripted_plans(dialect)] == labels
    if dialect == DEFAULT_DIALECT:
        assert source == SPEC_DIR / "scripted.json"


def test_the_wheel_ships_every_spec_file() -> None:
    """pyproject's package-data names every file the contract reads (a fresh install is not a checkout)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["conformance"]
    files = [PurePosixPath(path.relative_to(PACKAGE).as_posix()) for path in spec_files()]
    assert files

    def shipped(path: PurePosixPath) -> bool:
        return any(len(path.parts) == len(PurePosixPath(p).parts) and path.match(p) for p in patterns)

    assert [str(path) for path in files if not shipped(path)] == []
