"""What the runner connects to: the URL (the target as given, or a freshly started mock's), TLS and limits."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

from conformance.contract import load_contract
from conformance.mock import MockConfig, serve_mock
from conformance.run.runner import Target
from conformance.run.settings import Settings
from conformance.wire.transport import Limits


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS for wss://: the system's trust store, plus --ca-file; --insecure verifies nothing."""
    if settings.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if settings.ca_file:
        return ssl.create_default_context(cafile=settings.ca_file)
    return None


def target_for(settings: Settings, url: str) -> Target:
    limits = Limits(
        connect_s=settings.connect_timeout_s,
        answer_s=settings.timeout_s,
        max_frame_bytes=settings.max_frame_bytes,
        max_connection_bytes=settings.max_connection_bytes,
    )
    return Target(
        url,
        settings.auth,
        limits,
        settings.models,
        settings.settle_s,
        ssl_context(settings),
        settings.politeness,
        settings.max_run_bytes,
        contract=load_contract(settings.model_names or None, settings.dialect),
    )


@contextlib.asynccontextmanager
async def target_url(settings: Settings) -> AsyncIterator[str]:
    """The URL to test: the target as given, or a freshly started reference mock's (stopped after)."""
    if settings.kind == "mock":
        async with serve_mock(MockConfig(models=settings.models, dialect=settings.dialect)) as url:
            yield url
    else:
        yield settings.target
