"""Checks of the files and folders a command reads or writes, made before anything runs or is cleared."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from conformance.cli.exits import UsageError
from conformance.staging import OUTPUT_DIRS, OUTPUT_FILES

#: Far more than any CA bundle: a larger file is a mistake, refused before it is read.
CA_FILE_BYTES = 4 << 20


def not_a_file(path: Path) -> str | None:
    """Why `path` is not a regular file to read ("no such file", "not a regular file": a folder, a named pipe
    that would wait for a writer, a device), or None."""
    if path.is_file():
        return None
    return "not a regular file" if path.exists() else "no such file"


def check_ca_file(name: str) -> None:
    """--ca-file must be a PEM file of CA certificates that OpenSSL accepts (checked before any run)."""
    path = Path(name)
    try:
        problem = not_a_file(path)
        if problem is not None:
            raise UsageError(f"--ca-file {name}: {problem}")
        if path.stat().st_size > CA_FILE_BYTES:
            raise UsageError(f"--ca-file {name}: larger than {CA_FILE_BYTES >> 20} MiB, not a CA bundle")
        ssl.create_default_context(cafile=name)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"--ca-file {name}: not a PEM file of CA certificates ({reason})") from None


def check_report_dir(report_dir: Path) -> None:
    """Refuse, before anything is cleared or run, a report dir the run could not write into."""
    where = f"--report-dir {report_dir}"
    if report_dir.exists() and not report_dir.is_dir():
        raise UsageError(f"{where}: exists and is not a folder")
    for names, is_kind, kind in ((OUTPUT_DIRS, Path.is_dir, "folder"), (OUTPUT_FILES, Path.is_file, "file")):
        for name in names:
            path = report_dir / name
            if path.is_symlink() or (path.exists() and not is_kind(path)):
                raise UsageError(f"{where}: {path} is in the way (the report writes a {kind} there); remove it")
    existing = next(p for p in (report_dir, *report_dir.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{where}: {existing} is not a folder")
    check_writable(existing, where)


def check_writable(folder: Path, where: str) -> None:
    """Create and delete a file in `folder`: the one test of writability that holds for root and read-only mounts."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{where}: cannot write into {folder} ({exc.strerror or exc})") from None
