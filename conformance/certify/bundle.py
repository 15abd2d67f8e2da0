"""A bundle's format and its writing: the run's outputs, the contract, a manifest of sha256 hashes, a signature."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any, Protocol

from conformance import __version__
from conformance.certify.keys import load_private_key
from conformance.contract import SPEC_DIR, spec_files, spec_hash
from conformance.redact import NO_SECRETS, Redactor

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class BundleError(Exception):
    """The bundle is not intact or does not support its verdict (exit 1); the message names what."""


class JudgedWith(Protocol):
    """The settings re-judging needs (a run's `Settings` has them): certify never imports the run."""

    @property
    def timeout_s(self) -> float: ...

    @property
    def model_names(self) -> tuple[str, ...]: ...

    @property
    def dialect(self) -> str: ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def manifest_settings(settings: JudgedWith, tls: str | None) -> dict[str, Any]:
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
