"""`verify` a certification bundle offline, and `keygen` the key pair that signs one.

Neither loads the engine, the runner, the mock, Hypothesis or websockets (import-linter's
offline-verify contract, and a run-time probe in tests/test_layers.py): verifying a bundle must not
depend on the code that produced it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from conformance.certify import BundleError, KeyFileError, VersionMismatch, keygen, verify
from conformance.cli.exits import Exit, UsageError, one_line


def cmd_verify(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle)
    if not bundle.exists():
        raise UsageError(f"{bundle}: no such bundle")
    try:
        checked = verify(bundle, Path(args.public_key) if args.public_key else None)
    except (KeyFileError, VersionMismatch) as exc:
        raise UsageError(str(exc)) from None
    except BundleError as exc:
        print(f"NOT VERIFIED: {one_line(str(exc))}")
        return Exit.NON_CONFORMANT
    judged = f"{checked.connections} connections re-judged offline: {checked.verdict}"
    if checked.signed:
        print(f"VERIFIED: {checked.files} files intact, signature valid; {judged}")
        return Exit.CONFORMANT
    # Without a key, anyone who changed the bundle could have re-hashed its manifest: integrity only.
    if args.allow_unsigned:
        print(f"VERIFIED (integrity only, not authenticated): {checked.files} files intact; {judged}")
        return Exit.CONFORMANT
    print(
        f"NOT AUTHENTICATED: {checked.files} files intact and {judged}, but that is integrity only: "
        "give the certifier's --public-key (or --allow-unsigned to accept an unauthenticated bundle)"
    )
    return Exit.NON_CONFORMANT


def cmd_keygen(args: argparse.Namespace) -> int:
    private = Path(args.private)
    public = Path(args.public) if args.public else private.with_suffix(".pub.pem")
    if private.resolve() == public.resolve():
        raise UsageError(f"--public {public}: the same file as --private; the private key would be overwritten")
    try:
        keygen(private, public)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the key pair: {exc.strerror or exc} ({exc.filename})") from None
    print(f"private key: {private} (keep it secret; sign with run --sign-key {private})")
    print(f"public key:  {public} (give it to whoever verifies: verify BUNDLE --public-key {public})")
    return Exit.CONFORMANT
