"""Central ingest for many stores: edge nodes → NATS JetStream → ``storelens central`` → database.

Each edge node publishes its events to JetStream (the NATS sink); the central service consumes them
with a durable pull consumer and stores them through the same idempotent write path as the edge
(:func:`storelens.storage.ingest.store_events`), one transaction per fetched batch, acknowledging
only after the commit. See :mod:`storelens.central.service` for why that gives exactly-once rows.
"""

from storelens.central.config import CentralConfig
from storelens.central.service import CentralIngest, CentralStats

__all__ = ["CentralConfig", "CentralIngest", "CentralStats"]
