"""Every TOML and command example in the README works as written: a user copies them first.

TOML blocks go through the real settings loader into the `run` parser; `realtime-conformance` commands
are parsed by the real parser and checked as `run` checks them before anything runs (`settings_from`),
with the README's placeholders (`…`, `<folder-id>`) filled in and its `export`s set.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from conformance.cli.config import apply_config
from conformance.cli.main import parser
from conformance.cli.settings_check import settings_from

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, re.M | re.S)
PLACEHOLDERS = {"…": "example.test", "<folder-id>": "b1gfolder", "<folder>": "b1gfolder"}
COMMAND = ".venv/bin/realtime-conformance"


def commands() -> list[list[str]]:
    """Each shell command of the README's sh blocks, as argv (continuations joined, comments dropped)."""
    found = []
    for language, body in BLOCKS:
        if language not in ("sh", "bash", "console"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words:
                    found.append(words)
    return found


def fill(word: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        word = word.replace(placeholder, value)
    return word


def test_the_readme_has_examples_of_each_kind() -> None:
    languages = {language for language, _ in BLOCKS}
    assert {"sh", "toml"} <= languages
    assert any(words[0] == COMMAND and words[1] == "run" for words in commands())


@pytest.mark.parametrize("body", [b for lang, b in BLOCKS if lang == "toml"])
def test_each_toml_example_loads_through_the_settings_file_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", body):
        monkeypatch.setenv(name, "value")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "realtime-conformance.toml"
    path.write_text(body, encoding="utf-8")
    root = parser()
    run = next(a for a in root._actions if a.dest == "command").choices["run"]  # type: ignore[attr-defined]
    apply_config(run, ["--config", str(path)])
    args = root.parse_args(["run", "--config", str(path)])
    keys = {line.split("=", 1)[0].strip().replace("-", "_") for line in body.splitlines() if "=" in line}
    aliases = {"max_connections": "concurrency"}
    for key in keys:
        assert getattr(args, aliases.get(key, key)) is not None, key
    settings_from(args)  # and every check a run makes before it starts


@pytest.mark.parametrize("words", commands(), ids=lambda w: " ".join(w)[:60])
def test_each_command_example_is_accepted_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, words: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):  # VAR=value command …
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[0] == "export":
        name = words[1].split("=", 1)[0]
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", name)
        return
    if words[0].startswith("./scripts/"):
        script = ROOT / words[0]
        assert script.is_file() and os.access(script, os.X_OK), words[0]
        return
    if words[:3] == [".venv/bin/python", "-m", "pytest"]:
        assert all((ROOT / w).is_file() for w in words[3:] if not w.startswith("-")), words
        return
    assert words[0] == COMMAND, f"unexpected command in the README: {words}"
    for name in ("REALTIME_API_KEY", "OPENAI_API_KEY", "YC_IAM_TOKEN", "MOCK_KEY"):
        monkeypatch.setenv(name, "secret-for-the-test")
    argv = [fill(w) for w in words[1:]]
    if "--sign-key" in argv:  # made by the keygen example before it
        from conformance.cli.main import main

        assert main(["keygen", "--private", argv[argv.index("--sign-key") + 1]]) == 0
    args = parser().parse_args(argv)
    if args.command == "run":
        settings = settings_from(args)
        assert settings.target == (args.target or "mock")
