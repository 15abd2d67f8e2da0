"""The reference mock: a WebSocket server that speaks the protocol as documented, with faults."""

from conformance.mock.faults import FAULTS, Fault, faults_of, for_dialect, lookup
from conformance.mock.server import MockConfig, serve_mock
from conformance.mock.session import DEFAULT_MODEL

__all__ = ["DEFAULT_MODEL", "FAULTS", "Fault", "MockConfig", "faults_of", "for_dialect", "lookup", "serve_mock"]
