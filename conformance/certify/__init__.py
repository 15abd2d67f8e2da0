"""Certification bundles a third party can verify (like Sonobuoy's results tarball, OpenID's packages).

A bundle holds the summary, JUnit, Allure results, every transcript, the contract it was judged
against, and a manifest with the sha256 of each file; it is signed with Ed25519 when the certifier
gives a key (`bundle`, `keys`). `verify` checks every hash and the signature, then judges the
transcripts again, offline, and accepts the bundle only when the recomputed verdict is the recorded
one (`verification`, reading archives through `unpack`).
"""

from conformance.certify.bundle import BundleError, manifest_settings, write_bundle
from conformance.certify.keys import KeyFileError, keygen, load_private_key, load_public_key
from conformance.certify.verification import Verified, VersionMismatch, masking_problem, verify

__all__ = [
    "BundleError",
    "KeyFileError",
    "Verified",
    "VersionMismatch",
    "keygen",
    "load_private_key",
    "load_public_key",
    "manifest_settings",
    "masking_problem",
    "verify",
    "write_bundle",
]
