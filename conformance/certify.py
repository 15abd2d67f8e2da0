"""Certification bundles a third party can verify (like Sonobuoy's results tarball, OpenID's packages).

A bundle holds the summary, JUnit, Allure results, every transcript, the contract it was judged
against, and a manifest with the sha256 of each file; it is signed with Ed25519 when the certifier
gives a key. `verify` checks every hash and the signature, then judges the transcripts again,
offline, and accepts the bundle only when the recomputed verdict is the recorded one.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conformance import __version__
from conformance.checks import judge_all
from conformance.contract import SPEC_DIR, load_contract, spec_files, spec_hash
from conformance.engine import certify
from conformance.redact import NO_SECRETS, Redactor
from conformance.results import evaluate, verdict_of
from conformance.transcript import TranscriptError, parse_jsonl

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class BundleError(Exception):
    """The bundle is not intact or does not support its verdict (exit 1); the message names what."""


class KeyFileError(ValueError):
    """A key file that cannot be used (exit 2)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def keygen(private_path: Path, public_path: Path) -> None:
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a readable, unencrypted PEM private key ({exc})".splitlines()[0]) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key (make one with `realtime-conformance keygen`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: not a readable PEM public key ({exc})".splitlines()[0]) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def write_bundle(
    report_dir: Path, manifest_extra: dict[str, Any], sign_key: Path | None, safe: Redactor = NO_SECRETS
) -> Path:
    """Assemble report_dir/certificate/ and report_dir/certificate.tar.gz from the run's outputs.

    The outputs were masked when written; every copied text passes `safe` once more, so a signed
    bundle, which is handed to third parties, holds no credential even if a writer missed one.
    """
    key = load_private_key(sign_key) if sign_key is not None else None
    folder = report_dir / "certificate"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    def copy(source: str | Path, target: str | Path) -> None:
        data = Path(source).read_bytes()
        with contextlib.suppress(UnicodeDecodeError):  # not text: nothing of ours writes bytes
            data = safe.mask(data.decode("utf-8")).encode("utf-8")
        Path(target).write_bytes(data)

    copy(report_dir / "summary.json", folder / "summary.json")
    copy(report_dir / "junit.xml", folder / "junit.xml")
    shutil.copytree(report_dir / "allure-results", folder / "allure-results", copy_function=copy)
    shutil.copytree(report_dir / "transcripts", folder / "transcripts", copy_function=copy)
    for path in spec_files():
        target = folder / "spec" / path.relative_to(SPEC_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    manifest = {
        "format": FORMAT,
        "suite": {"name": "realtime-conformance", "version": __version__},
        "spec_hash": spec_hash(),
        "profile": summary["profile"],
        "seed": summary["seed"],
        "verdict": summary["verdict"],
        "counts": summary["counts"],
        "target": summary["target"],
        "started_at": summary["started_at"],
        "ended_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **manifest_extra,
        "files": files,
    }
    data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    (folder / MANIFEST).write_bytes(data)
    if key is not None:
        (folder / SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode() + "\n", encoding="ascii")
    archive = report_dir / "certificate.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="certificate")
    return archive


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


@dataclass(frozen=True)
class Verified:
    verdict: str
    signed: bool
    files: int
    connections: int


def _unpack(bundle: Path, into: Path) -> Path:
    if bundle.is_dir():
        return bundle
    try:
        with tarfile.open(bundle, "r:*") as tar:
            tar.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"{bundle}: not a readable bundle ({exc})") from None
    folder = into / "certificate"
    if not folder.is_dir():
        raise BundleError(f"{bundle}: no certificate/ folder inside")
    return folder


def verify(bundle: Path, public_key: Path | None = None) -> Verified:
    """Check hashes, signature and verdict; raise BundleError naming the first thing that differs."""
    with tempfile.TemporaryDirectory() as tmp:
        return _verify(_unpack(bundle, Path(tmp)), public_key)


def _verify(folder: Path, public_key: Path | None) -> Verified:
    manifest_path = folder / MANIFEST
    try:
        data = manifest_path.read_bytes()
        manifest = json.loads(data)
        files: dict[str, str] = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BundleError(f"{MANIFEST} is missing or unreadable") from None
    signature = folder / SIGNATURE
    if public_key is not None:
        key = load_public_key(public_key)
        if not signature.exists():
            raise BundleError("the bundle is not signed, but a public key was given")
        try:
            key.verify(base64.b64decode(signature.read_text(encoding="ascii")), data)
        except (InvalidSignature, ValueError):
            raise BundleError(f"the signature does not match {MANIFEST} for this public key") from None
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST, SIGNATURE}
    for name in sorted(set(files) - present):
        raise BundleError(f"{name} is listed in the manifest but missing")
    for name in sorted(present - set(files)):
        raise BundleError(f"{name} is not listed in the manifest")
    for name, digest in sorted(files.items()):
        if sha256_file(folder / name) != digest:
            raise BundleError(f"{name} was modified: its sha256 differs from the manifest")
    made_by = str(manifest.get("suite", {}).get("version"))
    made_for = str(manifest.get("spec_hash"))
    if made_by != __version__ or made_for != spec_hash():
        raise VersionMismatch(
            f"made by realtime-conformance {made_by} (spec {made_for[:12]}); this is {__version__} "
            f"(spec {spec_hash()[:12]}): verify with the version that made it"
        )
    return _rejudge(folder, manifest, public_key is not None)


class VersionMismatch(Exception):
    """The bundle was made by another suite or contract version (exit 2): re-judging would not be fair."""


def _rejudge(folder: Path, manifest: dict[str, Any], signed: bool) -> Verified:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    settings = manifest.get("settings", {})
    contract = load_contract(tuple(settings.get("model_names", ())) or None)
    try:
        transcripts = parse_jsonl((folder / "transcripts" / "all.jsonl").read_text(encoding="utf-8"))
    except (OSError, TranscriptError) as exc:
        if summary.get("verdict") == "error" and summary.get("error"):
            return Verified("error", signed, len(manifest["files"]), 0)
        raise BundleError(f"transcripts/all.jsonl cannot be judged: {exc}") from None
    judgement = judge_all(transcripts, contract)
    results = evaluate(contract, judgement, settings.get("selected"))
    if summary["profile"] == "certify":
        results = certify(results, int(settings.get("min_exercised", 1)))
    recorded = {r["id"]: r["status"] for r in summary["requirements"]}
    for result in results:
        rid = result.requirement.id
        if recorded.get(rid) != result.status:
            raise BundleError(
                f"summary.json says {rid} {recorded.get(rid)}, but the transcripts show it {result.status}"
            )
    baseline = summary.get("baseline") or {}
    stale = bool(settings.get("strict_baseline")) and bool(baseline.get("fixed") or baseline.get("expired"))
    verdict = verdict_of(results, bool(settings.get("strict")), frozenset(baseline.get("expected", ())), stale)
    if summary.get("error"):
        verdict = "error" if verdict == "conformant" or not transcripts else verdict
    if verdict != summary["verdict"] or verdict != manifest.get("verdict"):
        raise BundleError(f"the recorded verdict is {summary['verdict']}, but the transcripts support {verdict}")
    return Verified(verdict, signed, len(manifest["files"]), len(transcripts))


def manifest_settings(settings: Any, tls: str | None) -> dict[str, Any]:
    """What re-judging needs beyond the transcripts, recorded in the manifest."""
    extra: dict[str, Any] = {
        "settings": {
            "timeout_s": settings.timeout_s,
            "model_names": list(settings.model_names),
            "strict": settings.strict,
            "strict_baseline": settings.strict_baseline,
            "min_exercised": settings.min_exercised,
            "selected": list(settings.selected) if settings.selected is not None else None,
        }
    }
    if tls:
        extra["target_tls_sha256"] = tls
    return extra
