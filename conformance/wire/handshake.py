"""Opening a WebSocket: every way a handshake can fail becomes one `ConnectFailed` with a line for
the user, and a redirect is refused (never followed)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from conformance.redact import public_url

FailureKind = Literal[
    "invalid-url", "dns", "refused", "tls", "timeout", "handshake-rejected", "handshake-failed", "redirect"
]
REDIRECTS = (300, 301, 302, 303, 307, 308)


@dataclass(frozen=True)
class ConnectFailed:
    kind: FailureKind
    message: str
    status: int | None = None


class NoRedirects(connect):
    """websockets' connect, refusing every redirect instead of following it.

    websockets follows up to 10 redirects and, across origins, drops only Authorization and
    Cookie: custom credential headers would reach the other server, and the run would test a
    server the report does not name. The URL is used as given (DESIGN), so a redirect fails.
    """

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


def failure(exc: BaseException, url: str) -> ConnectFailed:
    shown = public_url(url)
    if isinstance(exc, InvalidStatus) and exc.response.status_code in REDIRECTS:
        status = exc.response.status_code
        location = exc.response.headers.get("Location")
        to = f" to {public_url(urljoin(url, location))}" if location else ""
        return ConnectFailed(
            "redirect",
            f"{shown} redirects (HTTP {status}){to}; not followed, so no credential goes to another server "
            "and the report names the server tested: give the final URL as --target",
            status,
        )
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        what = "authentication rejected" if status in (401, 403) else "handshake rejected"
        return ConnectFailed("handshake-rejected", f"{what}: HTTP {status} from {shown}", status)
    if isinstance(exc, InvalidURI):
        return ConnectFailed("invalid-url", f"not a ws:// or wss:// URL: {shown}")
    if isinstance(exc, socket.gaierror):
        return ConnectFailed("dns", f"cannot resolve the host of {shown}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectFailed(
            "tls",
            f"TLS handshake with {shown} failed: certificate verify failed: {exc.verify_message}; "
            "trust its CA with --ca-file FILE (or skip verification with --insecure)",
        )
    if isinstance(exc, ssl.SSLError):
        return ConnectFailed("tls", f"TLS handshake with {shown} failed: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        return ConnectFailed("timeout", f"no WebSocket handshake with {shown} in time")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectFailed("refused", f"connection refused by {shown}: nothing listening")
    if isinstance(exc, InvalidHandshake | ConnectionClosed | EOFError):
        return ConnectFailed("handshake-failed", f"WebSocket handshake with {shown} failed: {exc}")
    if isinstance(exc, OSError):
        return ConnectFailed("refused", f"cannot connect to {shown}: {exc.strerror or exc}")
    raise exc
