"""Handshake credentials from the environment, and every form of them to mask (run, workers, CLI)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from conformance.redact import credential_forms, url_forms
from conformance.wire.bounds import Auth


def auth_from_env(api_key_env: str | None, iam_token_env: str | None, headers: list[str], target: str = "") -> Auth:
    """Handshake headers from environment variables, and every form of every credential (to mask).

    At most one source may set Authorization: the API key or IAM token variable, a --header, or
    user:password in the target URL (which websockets sends as Basic); two are a usage error.
    """
    pairs: list[tuple[str, str]] = []
    secrets: set[str] = set()
    sources: list[str] = []
    if iam_token_env and os.environ.get(iam_token_env):
        pairs.append(("Authorization", f"Bearer {os.environ[iam_token_env]}"))
        sources.append(f"${iam_token_env} (--iam-token-env)")
    elif api_key_env and os.environ.get(api_key_env):
        pairs.append(("Authorization", f"api-key {os.environ[api_key_env]}"))
        sources.append(f"${api_key_env} (--api-key-env)")
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header {header!r}: expected NAME:VALUE")
        value = value.strip()
        if value.startswith("env:"):
            value = os.environ.get(value[4:], "")
            if not value:
                raise ValueError(
                    f"--header {name.strip()}: the environment variable {header.split('env:', 1)[1]} is empty"
                )
        pairs.append((name.strip(), value))
        if name.strip().lower() == "authorization":
            sources.append("--header Authorization")
    for _, value in pairs:
        secrets |= credential_forms(value)
    try:
        has_userinfo = urlsplit(target).username is not None
    except ValueError:
        has_userinfo = False
    if has_userinfo:
        sources.append("user:password in --target")
    if len(sources) > 1:
        hint = " (--api-key-env '' sends no API key)" if api_key_env and os.environ.get(api_key_env) else ""
        raise ValueError(f"two credentials for one Authorization header: {' and '.join(sources)}; give one{hint}")
    secrets |= url_forms(target)
    return Auth(tuple(pairs), tuple(sorted(secrets)))
