"""Bad input, a table of it: one line on stderr, the documented exit code, never a traceback.

Every case runs `main()` as a user would. A run refused before it starts (exit 2) writes nothing:
the previous report in --report-dir is left exactly as it was. `verify` of a bundle that exists but
cannot be read or has the wrong shape prints one `NOT VERIFIED:` line and exits 1 (README).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.cli.exits import UsageError
from conformance.cli.main import main
from conformance.cli.options import MAX_CONNECTIONS, RUN_OPTIONS
from conformance.contract import spec_hash
from conformance.run.recorder import Recorder
from conformance.staging import Staging
from conformance.transcript import CONTAINERS_PASSED, MAX_CONNECTION_CONTAINERS, MAX_CONNECTION_FRAMES, TOO_DEEP
from conformance.verdict import Policy
from tests.harness import run_cli, run_cli_process, running

PREVIOUS = '{"previous": "report"}'


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("realtime-conformance: error:"), err
    return lines[0]


def cli(*argv: str) -> tuple[int, str, str]:
    result = run_cli(*argv)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of the test's own, holding a report dir with a previous report in it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "summary.json").write_text(PREVIOUS, encoding="utf-8")
    return tmp_path


def assert_refused(here: Path, *argv: str) -> str:
    """Exit 2, one line, and the previous report untouched (nothing ran, nothing was cleared)."""
    code, out, err = cli("run", "--report-dir", str(here / "reports"), *argv)
    assert code == 2, out + err
    assert (here / "reports" / "summary.json").read_text(encoding="utf-8") == PREVIOUS
    return one_line(err)


# --- options on the command line -------------------------------------------------------------

BAD_OPTIONS = [
    (["--timeout", "nan"], "finite"),
    (["--timeout", "inf"], "finite"),
    (["--timeout", "-1"], "more than 0"),
    (["--connect-timeout", "1e999"], "finite"),
    (["--shrink-budget-s", "NaN"], "finite"),
    (["--rate", "nan"], "finite"),
    (["--budget-s", "inf"], "finite"),
    (["--connections", "1000000"], f"at most {MAX_CONNECTIONS}"),
    (["--connections", "9" * 5000], "not an integer"),
    (["--max-connections", "1000000"], "at most"),
    (["--concurrency", "0"], "at least 1"),
    (["--workers", "100000"], "at most"),
    (["--min-exercised", "0"], "at least 1"),
    (["--max-frame-bytes", "10"], "at least 1024"),
    (["--max-frame-bytes", str(1 << 40)], "at most"),
    (["--connect-retries", "-1"], "at least 0"),
    (["--seed", "-1"], "at least 0"),
    (["--seed", "x"], "not an integer"),
    (["--profile", "bogus"], "must be one of smoke, full, certify"),
    (["--target", "ws://h\u00e9st/"], "printable ASCII"),
    (["--target", "ws://127.0.0.1:70000/"], "Port out of range"),
    (["--target", "ws://"], "hostname"),
    (["--target", "ws://" + "a" * 70 + ".example/"], "not a valid host name"),
    (["--target", "ws://[::1/"], "not a usable WebSocket URL"),
    (["--target", "http://127.0.0.1/"], "expected mock"),
    (["--header", "no-colon"], "NAME:VALUE"),
    (["--header", "X Y:z"], "HTTP token"),
    (["--header", "X:a\r\nEvil: b"], "printable ASCII"),
    (["--report-dir", "a\x00b"], "NUL"),
    (["--report-dir", ""], "must name a file or folder"),
    (["--xdist-option", "/tmp"], "must be an option"),
    (["--model", ""], "non-empty printable ASCII"),
    (["--model", "gpt://f/speech-realtime-250923 x"], "without spaces"),
    (["--model-name", ""], "a model name is"),
    (["--model-name", "a b"], "a model name is"),
    (["--timeout"], "expected one argument"),
    (["--no-such-option"], "unrecognized arguments"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD_OPTIONS, ids=[" ".join(a)[:40] for a, _ in BAD_OPTIONS])
def test_a_bad_option_exits_2_with_one_line_and_runs_nothing(here: Path, argv: list[str], expected: str) -> None:
    assert expected in assert_refused(here, *argv)


def test_a_target_url_with_userinfo_is_not_repeated_in_the_error(here: Path) -> None:
    line = assert_refused(here, "--target", "wss://user:s3cret-x@h\u00e9st/")
    assert "s3cret-x" not in line


def test_every_count_and_duration_of_the_table_has_a_finite_maximum() -> None:
    numeric = [o for o in RUN_OPTIONS if o.kind in ("int", "float")]
    assert numeric and all(o.high is not None and o.low is not None for o in numeric)


# --- settings files ------------------------------------------------------------------------

BAD_CONFIGS = [
    ("profile = 5\n", "profile = 5: must be a string"),
    ('profile = "bogus"\n', "must be one of smoke, full, certify"),
    ("target = 5\n", "target: must be a string"),
    ("header = [5]\n", "must be a string or a list of strings"),
    ("report-dir = 7\n", "report-dir = 7: must be a string"),
    ("model = {a=1}\n", "model = {'a': 1}: must be a string or a list"),
    ("expected-failures = 5\n", "expected-failures = 5: must be a string"),
    ('quiet = "no"\n', "must be true or false"),
    ("strict = 1\n", "must be true or false"),
    ("seed = true\n", "must be an integer"),
    ("seed = 1.5\n", "must be an integer"),
    ("timeout = nan\n", "finite"),
    ("timeout = inf\n", "finite"),
    ('timeout = "inf"\n', "finite"),
    ("connections = 1000000\n", "at most"),
    ("max-connections = 0\n", "at least 1"),
    ("max-connections = 2\nconcurrency = 3\n", "a second time"),
    ("colour = 3\n", "unknown setting 'colour'"),
    ("config = 'x.toml'\n", "unknown setting 'config'"),
    ("[profile]\nx = 1\n", "must be a string"),
    ("timeout = " + "[" * 3000 + "]" * 3000 + "\n", ""),
    ("this is not toml\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS, ids=[t[:30] for t, _ in BAD_CONFIGS])
def test_a_bad_settings_file_exits_2_with_one_line_naming_the_key(here: Path, text: str, expected: str) -> None:
    (here / "realtime-conformance.toml").write_text(text, encoding="utf-8")
    line = assert_refused(here)
    assert "realtime-conformance.toml" in line and expected in line


def test_a_settings_file_that_is_not_utf8_exits_2(here: Path) -> None:
    (here / "realtime-conformance.toml").write_bytes(b'profile = "\xff\xfe"\n')
    assert "not UTF-8" in assert_refused(here)


def test_a_bad_pyproject_tool_table_exits_2(here: Path) -> None:
    (here / "pyproject.toml").write_text('[tool]\nrealtime-conformance = "x"\n', encoding="utf-8")
    assert "must be a table" in assert_refused(here)


def test_a_config_error_shows_the_template_never_the_expanded_secret(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RC_SECRET", "hunter2-canary")
    for text in ('timeout = "${RC_SECRET}"\n', 'profile = "${RC_SECRET}"\n', 'target = "ws://${RC_SECRET}@h\u00e9/"\n'):
        (here / "realtime-conformance.toml").write_text(text, encoding="utf-8")
        line = assert_refused(here)
        assert "hunter2-canary" not in line
        assert "${RC_SECRET}" in line or "target" in line


def test_the_readme_settings_example_is_accepted_aliases_included(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    assert "max-connections" in example
    monkeypatch.setenv("YC_FOLDER", "b1gexample")
    monkeypatch.setenv("TEAM", "qa")
    (here / "realtime-conformance.toml").write_text(example, encoding="utf-8")
    # --rerun-failed with no earlier summary is the last check before a run: reaching it means every
    # setting of the example was accepted
    line = assert_refused(here, "--rerun-failed", "--report-dir", str(here / "empty"))
    assert "--rerun-failed" in line


def test_max_connections_in_a_settings_file_runs(here: Path) -> None:
    (here / "realtime-conformance.toml").write_text("max-connections = 2\nquiet = false\n", encoding="utf-8")
    code, out, _ = cli("run", "--report-dir", "r", "--timeout", "0.5", "--no-html", "--shrink-budget-s", "0")
    assert code == 0, out
    assert json.loads((here / "r" / "summary.json").read_text(encoding="utf-8"))["verdict"] == "conformant"


def test_a_settings_file_with_a_byte_order_mark_is_read(here: Path) -> None:
    """Some editors start a UTF-8 file with one; it was "Invalid statement (at line 1, column 1)"."""
    (here / "realtime-conformance.toml").write_text("\ufeffbogus-key = 1\n", encoding="utf-8")
    assert "bogus-key" in assert_refused(here)  # read: its one key is named (and refused as unknown)


def test_a_settings_file_that_is_a_folder_is_refused_not_skipped(here: Path) -> None:
    (here / "realtime-conformance.toml").mkdir()
    assert "realtime-conformance.toml: not a regular file" in assert_refused(here)


@pytest.mark.parametrize("option", ["--sign-key", "--ca-file", "--config"])
def test_a_named_pipe_given_as_a_file_to_read_is_not_a_regular_file(here: Path, option: str) -> None:
    os.mkfifo(here / "pipe")
    assert f"{option} {here / 'pipe'}: not a regular file" in assert_refused(here, option, str(here / "pipe"))


# --- files the run reads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("b.yaml", b"- id: SU-TYPE\n  reason: x\n  expires: 2020-13-45\n", "not valid YAML"),
        ("b.yaml", b"\xff\xfe- id: x\n", "not UTF-8"),
        ("b.yaml", b"[" * 20000 + b"]" * 20000, "not valid YAML"),
        ("b.json", b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        ("b.json", b"{", "not valid JSON"),
        ("b.yaml", b"- id: SU-TYPE\n  reason: x\n  link: [1]\n", "link must be a string"),
        ("b.yaml", b"- 5\n", "each entry must be a mapping"),
        # a date and time: it failed only at the run's end, a traceback that lost the run's report
        ("b.yaml", b"- id: SU-TYPE\n  reason: x\n  expires: 2024-01-01T00:00:00\n", "a day, not a time"),
    ],
)
def test_a_bad_expected_failures_file_exits_2(here: Path, name: str, content: bytes, expected: str) -> None:
    (here / name).write_bytes(content)
    assert expected in assert_refused(here, "--expected-failures", str(here / name))


@pytest.mark.parametrize("option", ["--ca-file", "--sign-key"])
def test_a_key_or_ca_file_that_is_not_pem_exits_2(here: Path, option: str) -> None:
    (here / "x.pem").write_bytes(b"not a certificate\n")
    line = assert_refused(here, option, str(here / "x.pem"))
    assert option in line or "x.pem" in line


@pytest.mark.parametrize("blocker", ["transcripts", "allure-results", "certificate"])
def test_a_file_where_the_report_writes_a_folder_exits_2(here: Path, blocker: str) -> None:
    (here / "reports" / blocker).write_text("in the way", encoding="utf-8")
    assert "is in the way" in assert_refused(here)


@pytest.mark.parametrize(
    "summary",
    [PREVIOUS, '{"requirements": [], "seed": 1, "profile": "bogus"}', "[" * 100000, '{"requirements": 5}'],
)
def test_rerun_failed_with_an_unusable_last_summary_exits_2(here: Path, summary: str) -> None:
    (here / "reports" / "summary.json").write_text(summary, encoding="utf-8")
    code, _, err = cli("run", "--report-dir", str(here / "reports"), "--rerun-failed")
    assert code == 2 and "--rerun-failed: no readable" in one_line(err)
    assert (here / "reports" / "summary.json").read_text(encoding="utf-8") == summary


def test_a_report_dir_that_is_a_file_exits_2(here: Path) -> None:
    (here / "afile").write_text("x", encoding="utf-8")
    code, _, err = cli("run", "--report-dir", str(here / "afile"))
    assert code == 2 and "not a folder" in one_line(err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_report_on_a_read_only_dir_exits_2(tmp_path: Path) -> None:
    (tmp_path / "allure-results").mkdir()
    tmp_path.chmod(0o555)
    try:
        code, _, err = cli("report", str(tmp_path))
    finally:
        tmp_path.chmod(0o755)
    assert code == 2 and "cannot write" in one_line(err)


def test_report_that_cannot_write_its_files_exits_2(tmp_path: Path) -> None:
    (tmp_path / "allure-results").mkdir()
    (tmp_path / ".allurerc-site.json").mkdir()  # where the renderer writes its settings: a folder
    code, _, err = cli("report", str(tmp_path))
    assert code == 2
    one_line(err)


# --- the offline commands --------------------------------------------------------------------


def test_validate_dev_zero_ends_with_one_line() -> None:
    started = time.monotonic()
    code, _, err = cli("validate", "/dev/zero")
    assert code == 2 and "larger than" in one_line(err)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe{}\n", "not UTF-8"),
        (b"[" * 100000 + b"\n", "not JSON"),
        (b'{"transcript": 1, "timeout_s": NaN}\n{"direction": "server", "time": 0, "text": "{}"}\n', "NaN"),
        (b'{"transcript": 1, "timeout_s": Infinity}\n', "Infinity"),
        (b'{"direction": "server", "time": 1e400, "text": "{}"}\n', "out of range"),
        (b'{"direction": "server", "time": 1, "earliest": 1.5, "text": "{}"}\n', "no later than 'time'"),
        (b'{"direction": "server", "time": 1, "earliest": "sooner", "text": "{}"}\n', "'earliest' must be a number"),
        # integers too long for a float (json reads up to 4,300 digits): each once a traceback, exit 4
        (b'{"direction": "server", "time": 1' + b"0" * 400 + b', "text": "{}"}\n', "'time' must be a number"),
        (b'{"direction": "server", "time": 1, "earliest": -1' + b"0" * 400 + b', "text": "{}"}\n', "'earliest'"),
        (b'{"transcript": 1, "timeout_s": 1' + b"0" * 400 + b"}\n", "'timeout_s' must be a number of seconds"),
        (b'{"transcript": 1, "timeout_s": 3601}\n', "at most 3600"),
        (b'{"direction": "server", "time": -1, "text": "{}"}\n', "at least 0"),
        (b'{"direction": "server", "time": 1, "earliest": -1e308, "text": "{}"}\n', "at least 0"),
        # a later frame timed before an earlier one: it would be judged as having come first
        (
            b'{"direction": "client", "time": 1, "text": "{}"}\n{"direction": "server", "time": 0.5, "text": "{}"}\n',
            "line 2: 'time' goes back",
        ),
        (b'{"transcript": 99}\n{"direction": "server", "time": 0, "text": "{}"}\n', "reads format 1"),
        (b'{"transcript": true}\n{"direction": "server", "time": 0, "text": "{}"}\n', "reads format 1"),
        (b'{"direction": "server", "time": 0, "close": true}\n', "'close' must be a close code"),
        (b'{"direction": "server", "time": 0, "close": 70000}\n', "'close' must be a close code"),
        (b'{"direction": "server", "time": 0, "close": 1000, "reason": [1]}\n', "'reason' must be a string"),
        (b'{"direction": "server", "time": 0, "binary_length": -5}\n', "'binary_length' must be"),
        (b'{"direction": "server", "time": 0, "binary_length": 1' + b"0" * 4000 + b"}\n", "'binary_length' must be"),
        (b'{"transcript": 1, "url": 5}\n{"direction": "server", "time": 0, "text": "{}"}\n', "'url' and 'label'"),
    ],
)
def test_validate_an_unreadable_transcript_exits_2(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "t.jsonl").write_bytes(content)
    code, _, err = cli("validate", str(tmp_path / "t.jsonl"))
    assert code == 2 and expected in one_line(err)


@pytest.mark.parametrize("extra", [0, 1], ids=["at-the-bound", "past-it"])
def test_validate_refuses_a_connection_of_more_frames_than_a_run_records(tmp_path: Path, extra: int) -> None:
    """A connection of tiny frames takes some twenty times its size to judge: past the bound, refused in one line
    before it is judged (a file of 64 MiB of them took gigabytes)."""
    head = json.dumps({"transcript": 1, "timeout_s": 5, "models": [], "url": "ws://127.0.0.1/"})
    frame = json.dumps({"direction": "server", "time": 0.5, "text": '{"type": "x"}'})
    count = MAX_CONNECTION_FRAMES + extra
    (tmp_path / "t.jsonl").write_text("\n".join([head, *[frame] * count]) + "\n", encoding="utf-8")
    code, _, err = cli("validate", str(tmp_path / "t.jsonl"))
    if extra:
        assert code == 2 and f"more than {MAX_CONNECTION_FRAMES} frames" in one_line(err)
    else:
        assert code == 3 and not err.strip(), err  # judged: no update among them, so nothing testable


@pytest.mark.parametrize(
    "argv",
    [
        ["mock", "--port", "70000"],
        ["mock", "--port", "-1"],
        ["mock", "--late-s", "inf"],
        ["mock", "--host", "a" * 70],
        ["mock", "--host", "a..b"],
        ["validate", "x.jsonl", "--timeout", "nan"],
        ["requirements", "--format", "bogus"],
        ["keygen", "--private", "/nonexistent-folder/k.pem"],
        ["keygen", "--private", "k.pem", "--public", "k.pem"],
        ["keygen", "--private", ""],
        ["verify", ""],
        ["verify", "/nonexistent-bundle.tar.gz"],
        [],
        ["bogus-command"],
    ],
)
def test_other_commands_refuse_bad_input_with_one_line(argv: list[str]) -> None:
    code, _, err = cli(*argv)
    assert code == 2
    one_line(err)


def test_an_unexpected_exception_is_exit_4_with_the_traceback_and_a_request_to_report_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:  # load_contract is called with dialect=…
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr("conformance.cli.offline.load_contract", broken)
    assert main(["requirements"]) == 4
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug of ours" in err and "please report it" in err


# --- verify: bundles of every wrong shape ------------------------------------------------------


def bundle_folder(root: Path, manifest: Any = None, summary: Any = None, **files: bytes) -> Path:
    """A bundle folder whose manifest hashes match its files (as an unsigned bundle's would)."""
    folder = root / "certificate"
    folder.mkdir(parents=True)
    contents = {
        "summary.json": json.dumps(summary if summary is not None else {"requirements": []}).encode(),
        "transcripts/all.jsonl": b"",
        **{name.replace("__", "/"): data for name, data in files.items()},
    }
    for name, data in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    if manifest is None or isinstance(manifest, dict):
        base = {
            "format": 1,
            "suite": {"name": "realtime-conformance", "version": __version__},
            "spec_hash": spec_hash(),
            "profile": "smoke",
            "verdict": "conformant",
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
        }
        manifest = {**base, **(manifest or {})}
        manifest = {k: v for k, v in manifest.items() if v is not ...}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


GOOD_SUMMARY = {"profile": "smoke", "verdict": "conformant", "requirements": []}
WRONG_SHAPES = {
    "manifest not an object": ([1, 2], None, "manifest.json is malformed at the top level"),
    "files not a mapping": ({"files": ["summary.json"]}, None, "manifest.json is malformed at files"),
    "a hash not a string": ({"files": {"summary.json": 5}}, None, "at files/summary.json"),
    "a missing key": ({"verdict": ...}, None, "'verdict' is a required property"),
    "suite not an object": ({"suite": "x"}, None, "at suite"),
    "a verdict policy of the wrong shape": (None, {**GOOD_SUMMARY, "policy": {"strict": "no"}}, "policy is malformed"),
    "model names not a list": ({"settings": {"model_names": "x"}}, None, "at settings/model_names"),
    "summary not an object": (None, [], "summary.json is malformed at the top level"),
    "summary requirements not a list": (None, {**GOOD_SUMMARY, "requirements": {}}, "at requirements"),
    "a requirement id not a string": (
        None,
        {**GOOD_SUMMARY, "requirements": [{"id": 5, "status": "passed"}]},
        "at requirements/0/id",
    ),
    "summary baseline not an object": (None, {**GOOD_SUMMARY, "baseline": []}, "at baseline"),
}


@pytest.mark.parametrize(("manifest", "summary", "expected"), WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_verify_a_bundle_of_the_wrong_shape_is_not_verified_in_one_line(
    tmp_path: Path, manifest: Any, summary: Any, expected: str
) -> None:
    folder = bundle_folder(tmp_path, manifest, summary)
    if summary is not None:  # hashes must match to get as far as the summary
        manifest_doc = json.loads((folder / "manifest.json").read_text())
        manifest_doc["files"]["summary.json"] = hashlib.sha256((folder / "summary.json").read_bytes()).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest_doc))
    code, out, err = cli("verify", str(folder))
    assert code == 1 and err == ""
    assert out.count("\n") == 1 and out.startswith("NOT VERIFIED:") and expected in out, out


@pytest.mark.parametrize(
    "manifest_bytes", [b"\xff\xfe", b"[" * 100000, b"{", b"x" * 100], ids=["not utf8", "deep", "truncated", "junk"]
)
def test_verify_an_unreadable_manifest_is_not_verified(tmp_path: Path, manifest_bytes: bytes) -> None:
    folder = bundle_folder(tmp_path)
    (folder / "manifest.json").write_bytes(manifest_bytes)
    code, out, err = cli("verify", str(folder))
    assert code == 1 and err == "" and out.startswith("NOT VERIFIED: manifest.json is missing or unreadable")


def tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, data: bytes = b"", **attributes: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attributes.items():
        setattr(info, key, value)
    return info, data if info.isreg() else None


def test_verify_a_truncated_or_foreign_archive_is_not_verified(tmp_path: Path) -> None:
    good = tar_gz(tmp_path / "good.tar.gz", [member("certificate/summary.json", b"{}" * 5000)])
    data = good.read_bytes()
    cases = {
        "truncated.tar.gz": data[: len(data) // 2],
        "plain.txt": b"hello",
        "gz-of-junk.tar.gz": gzip.compress(b"x" * 5000),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        code, out, err = cli("verify", str(tmp_path / name))
        assert code == 1 and err == "" and out.count("\n") == 1 and out.startswith("NOT VERIFIED:"), (name, out)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (member("certificate/link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "link or special file"),
        (member("certificate/hard", type=tarfile.LNKTYPE, linkname="certificate/x"), "link or special file"),
        (member("certificate/fifo", type=tarfile.FIFOTYPE), "link or special file"),
        (member("../escape.txt", b"x"), "outside certificate/"),
        (member("/abs.txt", b"x"), "outside certificate/"),
        (member("certificate/../../escape.txt", b"x"), "outside certificate/"),
        (member("elsewhere/x.txt", b"x"), "outside certificate/"),
    ],
)
def test_verify_refuses_links_and_paths_escaping_the_folder(
    tmp_path: Path, entry: tuple[tarfile.TarInfo, bytes | None], expected: str
) -> None:
    bundle = tar_gz(tmp_path / "b.tar.gz", [member("certificate/", type=tarfile.DIRTYPE), entry])
    code, out, _ = cli("verify", str(bundle))
    assert code == 1 and expected in out
    assert not (tmp_path.parent / "escape.txt").exists()


def test_verify_does_not_write_out_a_tar_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caps lowered so the bomb is small; the member over the cap is refused before any byte of it is written."""
    import conformance.certify.unpack as unpack

    monkeypatch.setattr(unpack, "MAX_BUNDLE_BYTES", 1 << 20)
    written: list[int] = []
    real_copy = unpack.shutil.copyfileobj

    def counting_copy(source: Any, target: Any, *args: Any) -> None:
        real_copy(source, target, *args)
        written.append(target.tell())

    monkeypatch.setattr(unpack.shutil, "copyfileobj", counting_copy)
    bomb = tar_gz(tmp_path / "bomb.tar.gz", [member("certificate/zeros", b"\0" * (4 << 20))])
    assert bomb.stat().st_size < 64 << 10
    code, out, _ = cli("verify", str(bomb))
    assert code == 1 and "larger than 1 MiB unpacked" in out and written == []
    many = tar_gz(tmp_path / "many.tar.gz", [member(f"certificate/{i}", b"x" * 1000) for i in range(2000)])
    code, out, _ = cli("verify", str(many))
    assert code == 1 and "larger than 1 MiB unpacked" in out and sum(written) <= 1 << 20
    monkeypatch.setattr(unpack, "MAX_MEMBERS", 50)
    code, out, _ = cli("verify", str(many))
    assert code == 1 and "more than 50 members" in out


@pytest.mark.parametrize("fifo", ["manifest.json", "manifest.sig", "public key"])
def test_verify_never_waits_on_a_named_pipe_nobody_writes_to(tmp_path: Path, fifo: str) -> None:
    """A hostile helper's folder bundles: a named pipe for a manifest, a signature or a public key hung `verify`
    for good (its all.jsonl was refused). Each is now one line and an exit code, at once."""
    folder = bundle_folder(tmp_path)
    key = tmp_path / "k.pub.pem"
    target = key if fifo == "public key" else folder / fifo
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    options = ["--public-key", str(key)] if fifo != "manifest.json" else ["--allow-unsigned"]
    if fifo == "manifest.sig":
        assert cli("keygen", "--private", str(tmp_path / "k.pem"))[0] == 0  # writes k.pub.pem beside it
    result = run_cli_process("verify", str(folder), *options, timeout_s=60)
    assert "Traceback" not in result.stderr and len((result.stdout + result.stderr).strip().splitlines()) == 1
    if fifo == "public key":
        assert result.exit_code == 2 and "PEM public key" in result.stderr
    else:
        assert result.exit_code == 1 and f"NOT VERIFIED: {fifo} is not a regular file" in result.stdout


def test_verify_refuses_a_manifest_that_is_a_link_before_reading_it(tmp_path: Path) -> None:
    """A manifest linked to /dev/urandom was read, 16 MiB of it, before the folder's links were refused."""
    folder = bundle_folder(tmp_path)
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").symlink_to("/dev/zero")
    code, out, _ = cli("verify", str(folder), "--allow-unsigned")
    assert code == 1 and out.strip() == "NOT VERIFIED: manifest.json is a link, refused"


def test_verify_with_a_public_key_that_is_not_pem_exits_2(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path)
    (tmp_path / "k.pub.pem").write_bytes(b"\0" * 100)
    code, _, err = cli("verify", str(folder), "--public-key", str(tmp_path / "k.pub.pem"))
    assert code == 2 and "PEM public key" in one_line(err)


# --- the pytest plugin: the same table checks its options -------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--rc-target", "ws://h\u00e9st/"], "printable ASCII"),
        (["--rc-target", "mock", "--rc-timeout", "nan"], "finite"),
        (["--rc-target", "mock", "--rc-profile", "bogus"], "must be one of"),
        (["--rc-seed", "-5"], "at least 0"),
    ],
)
def test_the_pytest_plugin_checks_its_options_with_the_same_table(
    tmp_path: Path, argv: list[str], expected: str
) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "-p", "no:cacheprovider", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 4  # pytest's own code for a usage error
    assert expected in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    ("flag", "negation"), [("quiet", "--no-quiet"), ("strict", "--no-strict"), ("no-html", "--html")]
)
def test_the_command_line_turns_off_a_flag_a_settings_file_turned_on(here: Path, flag: str, negation: str) -> None:
    from conformance.cli.config import apply_config
    from conformance.cli.main import parser

    (here / "realtime-conformance.toml").write_text(f"{flag} = true\n", encoding="utf-8")
    dest = flag.replace("-", "_")
    for argv, expected in (([], True), ([negation], False)):
        root = parser()
        run = next(a for a in root._actions if a.dest == "command").choices["run"]  # type: ignore[union-attr]
        apply_config(run, argv)
        assert getattr(root.parse_args(["run", *argv]), dest) is expected


def test_verify_refuses_an_oversized_extended_header_before_reading_it(tmp_path: Path) -> None:
    info = tarfile.TarInfo("certificate/x")
    info.pax_headers = {"comment": "x" * (2 << 20)}
    with tarfile.open(tmp_path / "pax.tar.gz", "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b""))
    code, out, _ = cli("verify", str(tmp_path / "pax.tar.gz"))
    assert code == 1 and "extended tar header" in out


def test_xdist_options_pytest_refuses_are_a_usage_error_and_keep_the_previous_report(here: Path) -> None:
    """pytest-xdist prints its own usage message; ours is the last line, exit 2, nothing replaced."""
    code, out, err = cli("run", "--report-dir", str(here / "reports"), "--workers", "2", "--xdist-option=--bogus")
    assert code == 2, out + err
    assert err.strip().splitlines()[-1].startswith("realtime-conformance: error: --xdist-option --bogus")
    assert (here / "reports" / "summary.json").read_text(encoding="utf-8") == PREVIOUS


@pytest.mark.parametrize(
    ("owner", "name", "kept"),
    [
        (Staging, "swap", "all.jsonl"),  # with the report staged whole
        (Recorder, "close", "spooled"),  # before all.jsonl was written
    ],
)
def test_a_bug_of_ours_after_the_exchanges_keeps_what_ran(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, owner: type, name: str, kept: str
) -> None:
    """Exit 4, and the transcripts of what ran kept and named (they were removed with the staged report)."""

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug of ours")

    original = owner.__dict__[name]
    monkeypatch.setattr(owner, name, broken)
    argv = ["run", "--report-dir", "reports", "--timeout", "0.5", "--no-html", "--shrink-budget-s", "0", "--seed", "3"]
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert "RuntimeError: a bug of ours" in err and "please report it" in err
    assert f"what ran is kept in {Path('reports') / 'incomplete-transcripts'}" in err
    assert (here / "reports" / "summary.json").read_text(encoding="utf-8") == PREVIOUS  # no report claimed
    monkeypatch.setattr(owner, name, original)
    assert main(["validate", str(here / "reports" / "incomplete-transcripts" / "all.jsonl")]) == 0
    assert "connection(s) judged offline" in capsys.readouterr().out
    if kept == "all.jsonl":
        assert not list((here / "reports" / "incomplete-transcripts").glob(".*"))


@pytest.mark.parametrize(
    "argv", [["validate"], ["verify"], ["verify", "--allow-unsigned"], ["replay", "--report-dir", "r"]]
)
def test_a_named_pipe_nobody_writes_to_given_as_the_file_ends_in_one_line(tmp_path: Path, argv: list[str]) -> None:
    """`validate` and `verify` opened the file waiting for a writer: for good (a whole process, so a hang is seen)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run_cli_process(*argv, str(fifo), timeout_s=20, cwd=tmp_path)
    assert result.exit_code in (1, 2) and "Traceback" not in result.stderr
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1, result


def slow_to_judge(path: Path, connections: int = 60_000) -> Path:
    """A transcript file of many small connections (an update answered each): seconds to judge."""
    update = json.dumps({"type": "session.update", "event_id": "u1", "session": {"type": "realtime"}})
    answer = json.dumps({"type": "session.updated", "event_id": "s1", "session": {"type": "realtime"}})
    one = "\n".join(
        [
            json.dumps({"transcript": 1, "timeout_s": 1, "models": [], "url": "ws://127.0.0.1/"}),
            json.dumps({"direction": "client", "time": 0.001, "text": update}),
            json.dumps({"direction": "server", "time": 0.002, "text": answer}),
            json.dumps({"direction": "client", "time": 1.01, "close": 1000}),
        ]
    )
    path.write_text((one + "\n") * connections, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["validate", "verify"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_an_offline_command_judges_ends_it_in_one_line_with_130(
    tmp_path: Path, command: str, signum: signal.Signals
) -> None:
    """Only `run` took SIGTERM over: the others died where they stood (exit 143, nothing said, and verify left
    its unpacked bundle in the temporary folder). Now SIGTERM is Ctrl-C there too."""
    if command == "validate":
        target = slow_to_judge(tmp_path / "all.jsonl")
    else:
        summary = {**GOOD_SUMMARY, "policy": Policy().to_json()}
        folder = bundle_folder(tmp_path, None, summary, transcripts__all__jsonl=b"")
        slow_to_judge(folder / "transcripts" / "all.jsonl")
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"]["transcripts/all.jsonl"] = hashlib.sha256(
            (folder / "transcripts" / "all.jsonl").read_bytes()
        ).hexdigest()
        manifest["files"]["summary.json"] = hashlib.sha256((folder / "summary.json").read_bytes()).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest))
        target = tmp_path / "certificate.tar.gz"
        with tarfile.open(target, "w:gz") as tar:
            tar.add(folder, arcname="certificate")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with running(command, *(["--allow-unsigned"] if command == "verify" else []), str(target),
                 env={"TMPDIR": str(temporary)}) as process:  # fmt: skip
        time.sleep(2.5)  # started, and judging (it takes far longer)
        assert process.process.poll() is None, "judged already: make the file slower to judge"
        process.process.send_signal(signum)
        result = process.finish(30)
    assert result.exit_code == 130 and result.stderr.strip() == "realtime-conformance: error: interrupted", result
    assert list(temporary.iterdir()) == []  # verify's unpacked bundle removed


def test_validate_refuses_a_connection_of_more_objects_and_arrays_than_a_run_keeps(tmp_path: Path) -> None:
    """One frame of `[{},{},…]` of 60 MB (within what a connection may take) took 3.3 GB to judge. The bound
    is a connection's, as a run's: two connections just under it each are read."""
    half = "[" + "{}," * (MAX_CONNECTION_CONTAINERS // 2) + "{}]"
    head = json.dumps({"transcript": 1, "timeout_s": 1}) + "\n"
    frame = json.dumps({"direction": "server", "time": 0, "text": half}) + "\n"
    (tmp_path / "t.jsonl").write_text(head + frame + frame + head + frame)
    code, _, err = cli("validate", str(tmp_path / "t.jsonl"))
    assert code == 2 and f"line 3: {CONTAINERS_PASSED}" in one_line(err)
    (tmp_path / "t.jsonl").write_text(head + frame + head + frame)
    code, _, err = cli("validate", str(tmp_path / "t.jsonl"))
    assert code in (1, 3) and not err


def test_validate_refuses_a_frame_nested_deeper_than_the_suite_reads(tmp_path: Path) -> None:
    """Such a frame is JSON the suite cannot read (a run cuts it), not a frame that is not JSON."""
    deep = '{"type": "x", "p": ' + "[" * 2000 + "]" * 2000 + "}"
    (tmp_path / "t.jsonl").write_text(json.dumps({"direction": "server", "time": 0, "text": deep}) + "\n")
    code, _, err = cli("validate", str(tmp_path / "t.jsonl"))
    assert code == 2 and f"line 1: {TOO_DEEP}" in one_line(err)


def test_a_usage_error_after_the_exchanges_keeps_nothing(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 2 writes nothing (a key file spoilt during the run, a report dir that cannot take the report): what
    ran is kept only for a bug of ours."""

    def refused(*_: object, **__: object) -> None:
        raise UsageError("--report-dir reports: cannot put the new report in place")

    monkeypatch.setattr(Staging, "swap", refused)
    argv = ["run", "--report-dir", "reports", "--timeout", "0.5", "--no-html", "--shrink-budget-s", "0", "--seed", "3"]
    assert main(argv) == 2
    assert not (here / "reports" / "incomplete-transcripts").exists()
    assert (here / "reports" / "summary.json").read_text(encoding="utf-8") == PREVIOUS
