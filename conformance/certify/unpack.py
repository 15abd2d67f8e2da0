"""Unpacking a bundle archive someone else made: streamed under caps, never a link or a path outside it."""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from conformance.certify.bundle import BundleError
from conformance.readers import open_input

#: Caps on what verify unpacks: a bundle of a certify run is far smaller; a tar bomb is refused
#: before its members are written, and the decompressed stream itself is capped.
MAX_MEMBERS = 100_000
MAX_BUNDLE_BYTES = 1 << 30


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


def unpack(bundle: Path, into: Path) -> Path:
    """Stream the .tar.gz into `into` under caps; never follow a link or leave certificate/."""
    if bundle.is_dir():
        return bundle
    written = 0
    try:
        with open_input(bundle) as raw, gzip.GzipFile(fileobj=raw) as unzipped:
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
