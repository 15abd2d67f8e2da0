"""The front ends: the `realtime-conformance` command and the pytest plugin, over one option table."""
