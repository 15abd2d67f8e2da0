"""Verifying a bundle: every hash and the signature, then its transcripts judged again, offline, under the
policy the run recorded; accepted only when the recomputed verdict is the recorded one."""

from __future__ import annotations

import base64
import binascii
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from jsonschema import Draft202012Validator

from conformance import __version__
from conformance.certify.bundle import FORMAT, MANIFEST, SIGNATURE, BundleError, sha256_file
from conformance.certify.keys import load_public_key
from conformance.certify.unpack import unpack
from conformance.contract import DEFAULT_DIALECT, DIALECTS, load_contract, spec_hash
from conformance.readers import MANIFEST_BYTES, SUMMARY_BYTES, ReadError, parse_json, read_bytes
from conformance.run.recorder import judge_file
from conformance.transcript import NoFrames, TranscriptError
from conformance.verdict import Policy, PolicyError, decide, not_run_of


@dataclass(frozen=True)
class Verified:
    verdict: str
    signed: bool
    files: int
    connections: int


#: What verify reads from the manifest; write_bundle writes more (all of it hashed and signed).
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "suite", "spec_hash", "profile", "verdict", "files"],
    "properties": {
        "format": {"const": FORMAT},
        "suite": {"type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}},
        "spec_hash": {"type": "string"},
        "profile": {"enum": ["smoke", "full", "certify"]},
        "verdict": {"type": "string"},
        "files": {"type": "object", "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
        "settings": {
            "type": "object",
            "properties": {
                "model_names": {"type": "array", "items": {"type": "string"}},
                "dialect": {"enum": list(DIALECTS)},
            },
        },
    },
}
#: What verify reads from summary.json (its whole shape is conformance/spec/summary.schema.json; a
#: value that shape forbids is still judged, so the message names what the transcripts show).
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["profile", "verdict", "requirements"],
    "properties": {
        "profile": {"type": "string"},
        "verdict": {"type": "string"},
        "error": {"type": ["object", "null"]},
        "requirements": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
            },
        },
        "baseline": {
            "type": ["object", "null"],
            "properties": {
                name: {"type": "array", "items": {"type": "string"}} for name in ("expected", "fixed", "expired")
            },
        },
    },
}


def verify(bundle: Path, public_key: Path | None = None) -> Verified:
    """Check hashes, signature and verdict; raise BundleError naming the first thing that differs."""
    if public_key is not None:
        load_public_key(public_key)  # a bad key file is the user's mistake (exit 2), found before unpacking
    with tempfile.TemporaryDirectory() as tmp:
        return _verify(unpack(bundle, Path(tmp)), public_key)


def _shape(document: Any, schema: dict[str, Any], name: str) -> None:
    """One line naming the first place where `document` is not of the shape verify reads."""
    error = next(iter(Draft202012Validator(schema).iter_errors(document)), None)
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "the top level"
        message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
        raise BundleError(f"{name} is malformed at {at}: {message}".replace("\n", " "))


def _read_json(folder: Path, name: str, limit: int) -> tuple[bytes, Any]:
    try:
        data = read_bytes(folder / name, limit)
        return data, parse_json(data, name)
    except ReadError as exc:
        raise BundleError(f"{name} is missing or unreadable: {exc}") from None


def _verify(folder: Path, public_key: Path | None) -> Verified:
    entries = list(folder.rglob("*"))
    for path in entries:  # before anything is read (a manifest linked to /dev/urandom was read, 16 MiB of it)
        if path.is_symlink():
            raise BundleError(f"{path.relative_to(folder).as_posix()} is a link, refused")
    for name in (MANIFEST, SIGNATURE):
        if (folder / name).exists() and not (folder / name).is_file():
            raise BundleError(f"{name} is not a regular file, refused")
    data, manifest = _read_json(folder, MANIFEST, MANIFEST_BYTES)
    _shape(manifest, MANIFEST_SCHEMA, MANIFEST)
    files: dict[str, str] = manifest["files"]
    signature = folder / SIGNATURE
    if public_key is not None:
        key = load_public_key(public_key)
        if not signature.exists():
            raise BundleError("the bundle is not signed, but a public key was given")
        try:
            key.verify(base64.b64decode(read_bytes(signature, 4096).strip(), validate=True), data)
        except (InvalidSignature, ValueError, binascii.Error):  # ReadError is a ValueError
            raise BundleError(f"the signature does not match {MANIFEST} for this public key") from None
    present = {p.relative_to(folder).as_posix() for p in entries if p.is_file()} - {MANIFEST, SIGNATURE}
    for name in sorted(set(files) - present):
        raise BundleError(f"{name} is listed in the manifest but missing")
    for name in sorted(present - set(files)):
        raise BundleError(f"{name} is not listed in the manifest")
    for name, digest in sorted(files.items()):
        if sha256_file(folder / name) != digest:
            raise BundleError(f"{name} was modified: its sha256 differs from the manifest")
    made_by = manifest["suite"]["version"]
    made_for = manifest["spec_hash"]
    if made_by != __version__ or made_for != spec_hash():
        raise VersionMismatch(
            f"made by realtime-conformance {made_by} (spec {made_for[:12]}); this is {__version__} "
            f"(spec {spec_hash()[:12]}): verify with the version that made it"
        )
    return _rejudge(folder, manifest, public_key is not None)


class VersionMismatch(Exception):
    """The bundle was made by another suite or contract version (exit 2): re-judging would not be fair."""


def _rejudge(folder: Path, manifest: dict[str, Any], signed: bool) -> Verified:
    """Judge the transcripts again under the policy the run recorded, and compare with what it says."""
    _, summary = _read_json(folder, "summary.json", SUMMARY_BYTES)
    _shape(summary, SUMMARY_SCHEMA, "summary.json")
    settings = manifest.get("settings", {})
    # re-judged by the dialect the run spoke (a bundle from before dialects: the default)
    contract = load_contract(tuple(settings.get("model_names", ())) or None, settings.get("dialect", DEFAULT_DIALECT))
    try:
        policy, not_run = Policy.from_json(summary.get("policy")), not_run_of(summary)
        unknown = policy.unknown_to(contract)
        if unknown is not None:
            raise PolicyError(unknown)
    except PolicyError as exc:
        raise BundleError(f"summary.json's verdict policy is malformed {exc}") from None
    try:  # one connection at a time: the run's transcripts may be any size
        tally = judge_file(folder / "transcripts" / "all.jsonl", contract)
    except NoFrames:  # a run that ended before any connection (unreachable, say): its error is the verdict
        if summary.get("verdict") == manifest.get("verdict") == "error" and summary.get("error"):
            return Verified("error", signed, len(manifest["files"]), 0)
        raise BundleError("transcripts/all.jsonl holds no frame, but the run records a verdict on some") from None
    except (OSError, TranscriptError) as exc:  # anything else in it is judged, whatever the summary says
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise BundleError(f"transcripts/all.jsonl cannot be judged: {reason}") from None
    decision = decide(contract, tally.judgement(), policy, not_run, tally.omitted())
    recorded = {r["id"]: r["status"] for r in summary["requirements"]}
    for result in decision.results:
        rid = result.requirement.id
        if recorded.get(rid) != result.status:
            raise BundleError(
                f"summary.json says {rid} {recorded.get(rid)}, but the transcripts show it {result.status}"
            )
    extra = sorted(set(recorded) - {result.requirement.id for result in decision.results})
    if extra:
        raise BundleError(
            f"summary.json lists {', '.join(extra[:3])[:120]}, which the run's policy and catalogue do not"
        )
    verdict = decision.verdict
    if verdict != summary["verdict"] or verdict != manifest.get("verdict"):
        raise BundleError(f"the recorded verdict is {summary['verdict']}, but the transcripts support {verdict}")
    return Verified(verdict, signed, len(manifest["files"]), tally.connections)


def masking_problem(report_dir: Path) -> str | None:
    """Why the written bundle would not verify, if it would not, or None.

    Verdicts are reached on the raw frames; the bundle holds them masked. A credential that is
    also protocol text (a header value `realtime`) is masked there too, and then the transcripts
    no longer support the recorded verdict: the certifier hears it now, not the third party later.
    """
    try:
        verify(report_dir / "certificate")
    except (BundleError, VersionMismatch) as exc:
        return f"the bundle will not verify: {exc} (a credential masked in the transcripts is also protocol text?)"
    return None
