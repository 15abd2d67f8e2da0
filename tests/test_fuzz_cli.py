"""Property: whatever settings file, command line or bundle manifest it is given, the CLI ends with a
documented exit code and never a traceback (only exit 4 may print one, and no case here may reach it).

Exit 2 is always exactly one line on stderr, and a ${VAR} a settings file names never shows expanded
in a settings-file error. Examples per property: RC_FUZZ_EXAMPLES (default 100); each stays offline:
`run` is always given --rerun-failed with no earlier summary, its last check before anything runs,
and `mock` --list-faults, so no example starts a run or a server.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import math
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import __version__
from conformance.cli.option import Option
from conformance.cli.options import (
    KEYGEN_OPTIONS,
    MOCK_OPTIONS,
    REPORT_OPTIONS,
    REQUIREMENTS_OPTIONS,
    RUN_OPTIONS,
    VALIDATE_OPTIONS,
    VERIFY_OPTIONS,
)
from conformance.contract import spec_hash
from tests.fixtures import transcript_cases
from tests.harness import run_cli

EXAMPLES = int(os.environ.get("RC_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CANARY = "fuzz-canary-7c1d0e"
SECRET_VAR = "RC_FUZZ_SECRET"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder of files the generated command lines may name: good, bad and odd ones."""
    root = tmp_path_factory.mktemp("fuzz")
    transcript = next(c.transcript for c in transcript_cases() if not c.violates)
    (root / "good.jsonl").write_text(transcript.to_jsonl(), encoding="utf-8")
    (root / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (root / "deep.json").write_bytes(b"[" * 50000)
    (root / "baseline.yaml").write_text("- id: SU-TYPE\n  reason: x\n  expires: 2020-13-45\n", encoding="utf-8")
    (root / "empty-dir").mkdir()
    (root / "transcripts").write_text("a file where a folder goes", encoding="utf-8")
    previous = os.environ.get(SECRET_VAR)
    os.environ[SECRET_VAR] = CANARY
    yield root
    if previous is None:
        del os.environ[SECRET_VAR]
    else:
        os.environ[SECRET_VAR] = previous


def call(workdir: Path, argv: list[str]) -> tuple[int, str, str]:
    with contextlib.chdir(workdir):
        result = run_cli(*argv)
    return result.exit_code, result.stdout, result.stderr


def assert_documented_ending(code: int, out: str, err: str) -> None:
    assert code in (0, 1, 2, 3), f"exit {code}:\n{err[-3000:]}"
    assert "Traceback" not in out + err, err[-3000:]
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err


FILES = ("good.jsonl", "binary.bin", "deep.json", "baseline.yaml", "empty-dir", "transcripts", "nothing-here")
texts = st.text(max_size=24).map(lambda s: s.replace("/", "_").replace("..", "_"))  # never outside the workdir
numbers = st.sampled_from(["nan", "inf", "-inf", "1e999", "-1", "0", "0.5", "3", "70000", "9" * 30, "1_0", "0x10"])
values = st.one_of(
    texts, numbers, st.sampled_from(FILES), st.sampled_from(["mock", "ws://127.0.0.1:1/", "ws://h\u00e9/"])
)


# --- settings files ---------------------------------------------------------------------------

KEYS = [key for option in RUN_OPTIONS for key in (option.name, *option.aliases, option.dest)]
scalars = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    texts,
    st.sampled_from(FILES),
    st.sampled_from([f"${{{SECRET_VAR}}}", f"x${{{SECRET_VAR}}}", "${RC_FUZZ_UNSET}", "smoke", "mock"]),
)
toml_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=2), max_leaves=6
)


def toml(value: Any) -> str:
    """A TOML rendering of a value (json strings are TOML basic strings, bar surrogates: a TOML error)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


config_files = st.one_of(
    st.dictionaries(st.sampled_from(KEYS) | texts, toml_values, max_size=4).map(
        lambda d: "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in d.items()).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=200),
)


@FUZZ
@given(config=config_files, argv=st.lists(values, max_size=2))
def test_any_settings_file_ends_in_a_documented_exit_code(workdir: Path, config: bytes, argv: list[str]) -> None:
    (workdir / "fuzz.toml").write_bytes(config)
    run = ["run", "--config", "fuzz.toml", "--rerun-failed", "--report-dir", "fuzz-reports"]
    code, out, err = call(workdir, [*run, *argv])
    assert_documented_ending(code, out, err)
    if "fuzz.toml" in err:
        assert CANARY not in err, err


# --- command lines ----------------------------------------------------------------------------


def flags(options: tuple[Option, ...]) -> tuple[str, ...]:
    return tuple(flag for option in options if not option.positional for flag in option.flags)


COMMANDS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "run": (["--rerun-failed", "--report-dir", "fuzz-reports"], flags(RUN_OPTIONS)),
    "validate": ([], flags(VALIDATE_OPTIONS)),
    "mock": (["--list-faults"], flags(MOCK_OPTIONS)),
    "verify": ([], flags(VERIFY_OPTIONS)),
    "report": ([], flags(REPORT_OPTIONS)),
    "requirements": ([], flags(REQUIREMENTS_OPTIONS)),
    "keygen": ([], flags(KEYGEN_OPTIONS)),
}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    fixed, flags = COMMANDS[command]
    tokens = draw(st.lists(st.one_of(st.sampled_from((*flags, "--help")), values), max_size=6))
    return [command, *fixed, *tokens]


@FUZZ
@given(argv=command_lines())
def test_any_command_line_ends_in_a_documented_exit_code(workdir: Path, argv: list[str]) -> None:
    code, out, err = call(workdir, argv)
    assert_documented_ending(code, out, err)


# --- bundle manifests -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def mutated(draw: st.DrawFn, document: dict[str, Any], keys: list[str]) -> Any:
    """`document` with some keys dropped or given arbitrary values, or an arbitrary JSON value instead."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(json_values)
    changed = dict(document)
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.booleans()):
            changed.pop(key, None)
        else:
            changed[key] = draw(json_values)
    return changed


@st.composite
def bundles(draw: st.DrawFn) -> tuple[Any, Any, bool]:
    summary = {
        "profile": "smoke",
        "verdict": "conformant",
        "requirements": [{"id": "SU-TYPE", "status": "passed"}],
        "baseline": {"expected": [], "fixed": [], "expired": []},
    }
    settings_doc = {"model_names": [], "strict": False, "min_exercised": 1, "selected": None, "strict_baseline": False}
    manifest = {
        "format": 1,
        "suite": {"name": "realtime-conformance", "version": __version__},
        "spec_hash": spec_hash(),
        "profile": "smoke",
        "verdict": "conformant",
        "settings": mutated(draw, settings_doc, list(settings_doc)),
    }
    return mutated(draw, manifest, [*manifest, "files"]), mutated(draw, summary, list(summary)), draw(st.booleans())


@FUZZ
@given(bundle=bundles())
def test_any_bundle_manifest_ends_in_a_documented_exit_code(workdir: Path, bundle: tuple[Any, Any, bool]) -> None:
    manifest, summary, packed = bundle
    root = workdir / "bundle"
    folder = root / "certificate"
    for path in sorted(folder.rglob("*"), reverse=True) if folder.exists() else []:
        path.rmdir() if path.is_dir() else path.unlink()
    (folder / "transcripts").mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / "transcripts" / "all.jsonl").write_bytes((workdir / "good.jsonl").read_bytes())
    if isinstance(manifest, dict) and "files" not in manifest:  # hashes that match: get past the hash check
        manifest["files"] = {
            p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*")
            if p.is_file()
        }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    target = folder
    if packed:
        target = root / "certificate.tar.gz"
        with tarfile.open(target, "w:gz") as tar:
            tar.add(folder, arcname="certificate")
    code, out, err = call(workdir, ["verify", str(target)])
    assert_documented_ending(code, out, err)
    assert code != 3
    if code == 1:
        assert out.startswith("NOT VERIFIED:") and out.count("\n") == 1, out


@FUZZ
@given(data=st.binary(max_size=2000), compress=st.booleans())
def test_any_archive_bytes_end_in_not_verified(workdir: Path, data: bytes, compress: bool) -> None:
    (workdir / "any.tar.gz").write_bytes(gzip.compress(data) if compress else data)
    code, out, err = call(workdir, ["verify", "any.tar.gz"])
    assert_documented_ending(code, out, err)
    assert code == 1 and out.startswith("NOT VERIFIED:") and out.count("\n") == 1, out
