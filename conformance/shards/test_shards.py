"""One test item per shard of the planned connections, spread over workers by pytest-xdist.

`realtime-conformance run --workers N` runs this with `-n N`; each item runs its share against
the target and hands the recorded transcripts back to the controller (through xdist's
`workeroutput`, so remote workers work too), which judges and reports the run as one.
"""

from __future__ import annotations

import pytest

from conformance.run.distribute import ShardSpec, run_share


def test_shard(shard: int, request: pytest.FixtureRequest) -> None:
    spec = ShardSpec.from_json(request.config.getoption("--rc-shards"))
    run_share(spec, shard, request.config)
