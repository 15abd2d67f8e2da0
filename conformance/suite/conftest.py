"""The suite is driven by the realtime-conformance pytest plugin (registered as an entry point)."""
