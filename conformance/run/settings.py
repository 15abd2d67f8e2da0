"""A run's settings: everything a run depends on, as the CLI and the pytest options fill it in."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from urllib.parse import urlsplit

from conformance.contract import DEFAULT_DIALECT
from conformance.run.runner import MAX_RUN_BYTES, Politeness
from conformance.verdict import Policy
from conformance.verdict.baseline import Expected
from conformance.wire.transport import Auth, Limits

Profile = Literal["smoke", "full", "certify"]
PROFILES: tuple[Profile, ...] = ("smoke", "full", "certify")

#: Defaults for a live target, polite and fast at once: the rate bounds the load a shared target
#: sees whatever its speed (a loopback target is the user's own machine: it has none); the
#: connections let a slow or silent target's waits overlap, so the full profile reaches its verdict
#: in about a minute even when every answer takes 1.5 s or never comes.
LIVE_CONCURRENCY = 16
LIVE_RATE = 20.0
MOCK_CONCURRENCY = 16
#: Seconds to wait for each answer. The embedded mock runs in this process and answers within
#: milliseconds: 2.5 ms typically, 86 ms at worst in a 1,500-connection certify run, 330 ms in a
#: 16,000-exchange run (at its full collections, conformance.collector). A second is what every
#: connection listens out after its last update, so its runs take seconds, not a live target's
#: timeout over and over.
LIVE_TIMEOUT_S = 5.0
MOCK_TIMEOUT_S = 1.0
#: Connections listening out their last answer timeout, held open at once besides the busy ones.
LIVE_LISTENING = 4 * LIVE_CONCURRENCY


def default_timeout(target: str) -> float:
    """The answer timeout for a target when none is given: MOCK_TIMEOUT_S for the embedded mock, else LIVE_TIMEOUT_S."""
    return MOCK_TIMEOUT_S if target == "mock" else LIVE_TIMEOUT_S


def default_rate(target: str) -> float | None:
    """The polite rate for a target: none for the mock or a loopback host, else LIVE_RATE."""
    if target == "mock":
        return None
    host = (urlsplit(target).hostname or "").strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    return None if loopback else LIVE_RATE


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on; what the CLI and the pytest options both fill in."""

    target: str = "mock"
    profile: Profile = "smoke"
    seed: int | None = None
    timeout_s: float = LIVE_TIMEOUT_S
    connect_timeout_s: float = 10.0
    models: tuple[str, ...] = ()
    model_names: tuple[str, ...] = ()
    dialect: str = DEFAULT_DIALECT  # whose contract judges the run (spec/ or its overlay spec/<dialect>/)
    auth: Auth = field(default_factory=Auth)
    strict: bool = False
    connections: int = 40  # generated connections in the full and certify profiles
    concurrency: int = 1
    min_exercised: int = 3  # certify: every MUST exercised at least this often
    shrink_budget_s: float = 10.0
    settle_s: float = 0.1
    baseline: tuple[Expected, ...] | None = None
    baseline_file: str = ""
    strict_baseline: bool = False
    selected: tuple[str, ...] | None = None  # report only these requirements (--rerun-failed)
    ca_file: str | None = None
    insecure: bool = False
    max_frame_bytes: int = 1 << 20
    max_connection_bytes: int = Limits.max_connection_bytes
    max_run_bytes: int = MAX_RUN_BYTES
    politeness: Politeness = field(default_factory=Politeness)
    # Where `auth` came from (API key variable, IAM token variable, --header specs): no secrets,
    # so it can be handed to workers, which read the environment themselves.
    auth_spec: tuple[str | None, str | None, tuple[str, ...]] = (None, None, ())

    @property
    def kind(self) -> Literal["mock", "live"]:
        return "mock" if self.target == "mock" else "live"


def policy_of(settings: Settings, today: date) -> Policy:
    """The run's verdict policy: written into summary.json, applied again by verify and validate."""
    return Policy.resolve(
        strict=settings.strict,
        certification=settings.profile == "certify",
        min_exercised=settings.min_exercised,
        selected=settings.selected,
        baseline=settings.baseline,
        baseline_file=settings.baseline_file,
        strict_baseline=settings.strict_baseline,
        today=today,
    )
