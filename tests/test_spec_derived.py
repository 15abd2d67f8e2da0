"""Code derives from the spec data: a field or a value added to a temporary copy of the spec is used
by the generator and the mock without a code change (and without the crash a restated list gave:
`KeyError: 'integer'` for a new integer field in the full profile).

The copy is the whole package in a temporary folder, imported by a fresh interpreter, so nothing of
this process's loaded contract leaks into it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import conformance
from conformance.contract import load_contract
from conformance.mock.session import GUIDE_AUDIO, initial_session

PACKAGE = Path(conformance.__file__).resolve().parent
FIELD = "max_output_tokens"

PROBE = """
import json, sys
from hypothesis import find, settings
from conformance import generate
from conformance.contract import load_contract
from conformance.cli.main import main
from conformance.mock.session import initial_session

FIELD = sys.argv[1]
quick = settings(database=None, max_examples=2000)
broken = find(generate.broken_session(), lambda s: FIELD in s, settings=quick)
unlisted = find(generate.unlisted_session(), lambda s: FIELD in s, settings=quick)
session = initial_session("gpt://b1gmockfolder0000000/speech-realtime-250923")
code = main(["run", "--profile", "full", "--connections", "4", "--seed", "1", "--timeout", "0.5",
             "--shrink-budget-s", "0", "--no-html", "--quiet", "--report-dir", sys.argv[2]])
print(json.dumps({"broken": broken[FIELD], "unlisted": unlisted[FIELD], "voice": session["voice"],
                  "audio": session["audio"], "code": code,
                  "top_level": sorted(load_contract().update_fields)}))
"""


def spec_copy_with_new_fields_and_another_guide_voice(root: Path) -> Path:
    copy = root / "conformance"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    schemas = copy / "spec" / "schemas"
    session = json.loads((schemas / "realtime-session.json").read_text())
    session["properties"][FIELD] = {
        "type": "integer",
        "minimum": 1,
        "description": "a toy field",
        "x-requirement": "RS-TOY-TYPE",  # a schema keyword with no requirement fails the contract's load
    }
    (schemas / "realtime-session.json").write_text(json.dumps(session))
    catalogue = json.loads((copy / "spec" / "requirements.json").read_text())
    toy = next(r for r in catalogue["requirements"] if r["id"] == "RS-VOICE-TYPE")
    catalogue["requirements"].append({**toy, "id": "RS-TOY-TYPE", "path": f"session.{FIELD}"})
    (copy / "spec" / "requirements.json").write_text(json.dumps(catalogue))
    patch = json.loads((schemas / "session-update-patch.json").read_text())
    patch["properties"][FIELD] = {"$ref": f"realtime-session.json#/properties/{FIELD}"}
    (schemas / "session-update-patch.json").write_text(json.dumps(patch))
    update = json.loads((schemas / "session.update.json").read_text())
    update["properties"]["toy_top"] = {"type": "string"}
    (schemas / "session.update.json").write_text(json.dumps(update))
    known = json.loads((copy / "spec" / "known-values.json").read_text())
    known["properties"]["audio"]["const"]["output"]["voice"] = "toy-voice"
    (copy / "spec" / "known-values.json").write_text(json.dumps(known))
    return root


def test_a_new_integer_field_is_drawn_wrong_typed_and_unlisted_and_the_full_profile_runs(tmp_path: Path) -> None:
    root = spec_copy_with_new_fields_and_another_guide_voice(tmp_path / "pkg")
    env = {**os.environ, "PYTHONPATH": str(root), "REALTIME_CONFORMANCE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, FIELD, str(tmp_path / "report")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not isinstance(result["broken"], int) or isinstance(result["broken"], bool)  # the wrong type
    assert isinstance(result["unlisted"], int) and not isinstance(result["unlisted"], bool)
    assert result["code"] in (0, 1)  # a verdict, not a crash (4) or a usage error (2)
    assert result["voice"] == "toy-voice" == result["audio"]["output"]["voice"]  # the mock follows the data
    assert "toy_top" in result["top_level"]  # the oracle's documented top-level fields are the schema's


def test_the_mocks_first_session_is_the_guides_from_known_values() -> None:
    guide = load_contract().schemas["known-values.json"]["properties"]["audio"]["const"]
    session = initial_session("gpt://b1gmockfolder0000000/speech-realtime-250923")
    assert session["audio"] == guide == GUIDE_AUDIO
    assert session["voice"] == guide["output"]["voice"]
    assert session["turn_detection"] == guide["input"]["turn_detection"]
    session["audio"]["output"]["voice"] = "changed"
    assert GUIDE_AUDIO["output"]["voice"] == guide["output"]["voice"]  # each session has its own copy
