"""Edges and central on a three-node JetStream cluster (R3 stream), one node killed and restarted.

The cluster is private to the test: three ``nats-server`` processes on free loopback ports with
their stores under ``tmp_path``, so the shared server on 4222 is untouched. Edges and central get
all three seeds. The node that leads the stream is killed with SIGKILL while events are being
published and consumed, more events are published without it, then it is restarted on its old
store and the rest follows; the database must end with every event once and projections equal to
storing them in one go (the reference of ``test_central``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_central import (
    CentralThread,
    _central_cfg,
    db_count,
    fingerprint,
    publish,
    reference,
    shoppers,
    wait_until,
)

from servers import PrivateNats, create_stream
from storelens.config.outputs import NatsConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[PrivateNats]:
    (tmp_path / "nats").mkdir()
    with PrivateNats(tmp_path / "nats", nodes=3) as c:
        yield c


def test_stream_leader_killed_and_restarted_during_load_loses_and_duplicates_nothing(
    cluster: PrivateNats, pg: tuple[str, str], tmp_path: Path
) -> None:
    cfg = NatsConfig(
        enabled=True, servers=cluster.urls, stream="SLCLUSTER", subject_prefix="slcluster", duplicate_window_s=300
    )
    leader = asyncio.run(create_stream(cfg, 3, 60))
    assert leader is not None
    victim = int(leader.removeprefix("n"))
    stores = ["s1", "s2"]
    parts = [[e for s in stores for e in shoppers(s, 150, tag=f"p{k}")] for k in range(3)]
    events = [e for p in parts for e in p]
    url = pg[0]
    central = CentralThread(_central_cfg(NatsConfig(**{**cfg.model_dump()}), url, batch=50))
    try:
        publish(cfg, parts[0], tmp_path / "spool0")
        wait_until(lambda: db_count(url) > 0, 60, "central committing")
        cluster.kill(victim)  # mid-stream: central is still working through part 0
        publish(cfg, parts[1], tmp_path / "spool1")  # the two survivors elect a leader and accept
        wait_until(lambda: db_count(url) >= len(parts[0]) + len(parts[1]), 90, "parts 0-1 stored without the node")
        cluster.start(victim)
        publish(cfg, parts[2], tmp_path / "spool2")
        wait_until(lambda: db_count(url) == len(events), 90, "every event stored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- nats logs ---\n{cluster.logs()}") from exc
    finally:
        central.stop()
    st = central.ingest.stats()
    assert st.stored == len(events) and st.rejected == 0
    assert st.duplicates <= st.redelivered  # only a redelivery can repeat an event, and it is skipped
    assert fingerprint(url, stores) == reference(tmp_path, events, stores)
