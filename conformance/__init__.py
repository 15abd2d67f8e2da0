"""Contract conformance suite for the Realtime API's session configuration exchange."""

__version__ = "0.1.0"
