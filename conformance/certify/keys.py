"""The Ed25519 key pair that signs a bundle: made by `keygen`, read (and refused, in one line) here."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conformance.readers import read_bytes

KEY_BYTES = 64 << 10


class KeyFileError(ValueError):
    """A key file that cannot be used (exit 2)."""


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
