"""Certification bundles a third party can verify (like Sonobuoy's results tarball, OpenID's packages).

A bundle holds the summary, JUnit, Allure results, every transcript, the contract it was judged
against, and a manifest with the sha256 of each file; it is signed with Ed25519 when the certifier
gives a key. `verify` checks every hash and the signature, then judges the transcripts again,
offline, and accepts the bundle only when the recomputed verdict is the recorded one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jsonschema import Draft202012Validator

from conformance import __version__
from conformance.contract import DEFAULT_DIALECT, DIALECTS, SPEC_DIR, load_contract, spec_files, spec_hash
from conformance.readers import MANIFEST_BYTES, SUMMARY_BYTES, ReadError, parse_json, read_bytes
from conformance.redact import NO_SECRETS, Redactor
from conformance.run.recorder import judge_file
from conformance.transcript import TranscriptError
from conformance.verdict import Policy, PolicyError, decide, not_run_of

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


KEY_BYTES = 64 << 10


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(read_bytes(path, KEY_BYTES), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a readable, unencrypted PEM private key ({exc})".splitlines()[0]) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key (make one with `realtime-conformance keygen`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(read_bytes(path, KEY_BYTES))
    except (ValueError, TypeError) as exc:
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
        """A line at a time (a run's all.jsonl may be any size); no credential spans a line."""
        with Path(source).open("rb") as src, Path(target).open("wb") as out:
            for line in src:
                with contextlib.suppress(UnicodeDecodeError):  # not text: nothing of ours writes bytes
                    line = safe.mask(line.decode("utf-8")).encode("utf-8")
                out.write(line)

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


#: Caps on what verify unpacks: a bundle of a certify run is far smaller; a tar bomb is refused
#: before its members are written, and the decompressed stream itself is capped.
MAX_MEMBERS = 100_000
MAX_BUNDLE_BYTES = 1 << 30

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


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _Capped:
    """A read-only stream that fails once more than `limit` bytes came through it."""

    def __init__(self, inner: _Readable, limit: int) -> None:
        self.inner, self.limit, self.total = inner, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.total += len(data)
        if self.total > self.limit:
            raise BundleError(f"larger than {self.limit >> 20} MiB unpacked, refused")
        return data


MAX_HEADER_BYTES = 1 << 20  # a pax or GNU long-name header: tarfile reads it whole into memory


class _CappedTarInfo(tarfile.TarInfo):
    """Refuses an extended header before tarfile reads all of it into memory."""

    def _proc_member(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in EXTENDED_HEADERS and self.size > MAX_HEADER_BYTES:
            raise BundleError(f"an extended tar header of {self.size} bytes, refused")
        return super()._proc_member(tarfile)  # type: ignore[misc,no-any-return]


EXTENDED_HEADERS = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


def _member_path(into: Path, member: tarfile.TarInfo) -> Path:
    """Where a member goes; only folders and regular files under certificate/ are accepted."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or not name.parts or name.parts[0] != "certificate":
        raise BundleError(f"member {member.name!r} is outside certificate/, refused")
    if not (member.isdir() or member.isreg()):
        raise BundleError(f"member {member.name!r} is a link or special file, refused")
    return into.joinpath(*name.parts)


def _unpack(bundle: Path, into: Path) -> Path:
    """Stream the .tar.gz into `into` under caps; never follow a link or leave certificate/."""
    if bundle.is_dir():
        return bundle
    written = 0
    try:
        with bundle.open("rb") as raw, gzip.GzipFile(fileobj=raw) as unzipped:
            stream: Any = _Capped(unzipped, MAX_BUNDLE_BYTES + (MAX_MEMBERS + 2) * 1024)
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_CappedTarInfo) as tar:
                for count, member in enumerate(tar, start=1):
                    if count > MAX_MEMBERS:
                        raise BundleError(f"more than {MAX_MEMBERS} members, refused")
                    target = _member_path(into, member)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    written += member.size
                    if written > MAX_BUNDLE_BYTES:
                        raise BundleError(f"larger than {MAX_BUNDLE_BYTES >> 20} MiB unpacked, refused")
                    source = tar.extractfile(member)
                    assert source is not None  # a regular file
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with target.open("xb") as out:
                        shutil.copyfileobj(source, out)
    except FileExistsError:
        raise BundleError(f"{bundle}: a member appears twice") from None
    except BundleError as exc:
        raise BundleError(f"{bundle}: {exc}") from None
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(f"{bundle}: not a readable .tar.gz bundle ({reason})") from None
    folder = into / "certificate"
    if not folder.is_dir():
        raise BundleError(f"{bundle}: no certificate/ folder inside")
    return folder


def verify(bundle: Path, public_key: Path | None = None) -> Verified:
    """Check hashes, signature and verdict; raise BundleError naming the first thing that differs."""
    if public_key is not None:
        load_public_key(public_key)  # a bad key file is the user's mistake (exit 2), found before unpacking
    with tempfile.TemporaryDirectory() as tmp:
        return _verify(_unpack(bundle, Path(tmp)), public_key)


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
    entries = list(folder.rglob("*"))
    for path in entries:
        if path.is_symlink():
            raise BundleError(f"{path.relative_to(folder).as_posix()} is a link, refused")
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
    try:
        policy = Policy.from_json(summary.get("policy"))
    except PolicyError as exc:
        raise BundleError(f"summary.json's verdict policy is malformed {exc}") from None
    settings = manifest.get("settings", {})
    # re-judged by the dialect the run spoke (a bundle from before dialects: the default)
    contract = load_contract(tuple(settings.get("model_names", ())) or None, settings.get("dialect", DEFAULT_DIALECT))
    try:  # one connection at a time: the run's transcripts may be any size
        tally = judge_file(folder / "transcripts" / "all.jsonl", contract)
    except (OSError, TranscriptError) as exc:
        if summary.get("verdict") == "error" and summary.get("error"):
            return Verified("error", signed, len(manifest["files"]), 0)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise BundleError(f"transcripts/all.jsonl cannot be judged: {reason}") from None
    decision = decide(contract, tally.judgement(), policy, not_run_of(summary), tally.omitted())
    recorded = {r["id"]: r["status"] for r in summary["requirements"]}
    for result in decision.results:
        rid = result.requirement.id
        if recorded.get(rid) != result.status:
            raise BundleError(
                f"summary.json says {rid} {recorded.get(rid)}, but the transcripts show it {result.status}"
            )
    verdict = decision.verdict
    if verdict != summary["verdict"] or verdict != manifest.get("verdict"):
        raise BundleError(f"the recorded verdict is {summary['verdict']}, but the transcripts support {verdict}")
    return Verified(verdict, signed, len(manifest["files"]), tally.connections)


def manifest_settings(settings: Any, tls: str | None) -> dict[str, Any]:
    """What re-judging needs beyond the transcripts and the summary's policy, recorded in the manifest."""
    extra: dict[str, Any] = {
        "settings": {
            "timeout_s": settings.timeout_s,
            "model_names": list(settings.model_names),
            "dialect": settings.dialect,
        }
    }
    if tls:
        extra["target_tls_sha256"] = tls
    return extra
