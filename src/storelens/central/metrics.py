"""Prometheus metrics of the central ingest service, read from its stats at scrape time.

Like the edge service's metrics, nothing is counted twice: a collector turns
:meth:`~storelens.central.service.CentralIngest.stats` into metric families when Prometheus
scrapes, on a registry of its own (several services in one process, as in tests, never collide).

Metric names (all ``storelens_central_``):

* ``events_consumed_total`` events fetched from JetStream (redeliveries included),
  ``events_redelivered_total`` of those, the ones delivered before (not acknowledged then)
* ``events_stored_total`` new rows, ``events_duplicate_total`` already stored (a re-publish after the
  de-dup window, a redelivery after a lost acknowledgement), ``events_rejected_total`` terminated:
  not an event, or refused by the database
* ``batches_total`` committed transactions, ``commit_seconds_total`` time spent in them
* ``db_errors_total``, ``nats_errors_total`` failed attempts (each is retried)
* ``consumer_pending`` consumer lag: messages in the stream not yet delivered to central;
  ``consumer_ack_pending`` delivered but not yet acknowledged (in hand, or waiting for redelivery)
* ``db_up``, ``nats_connected`` 1 or 0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from storelens.central.service import CentralStats

_COUNTERS = (
    ("events_consumed", "consumed", "Events fetched from JetStream, redeliveries included"),
    ("events_redelivered", "redelivered", "Events fetched that had been delivered before"),
    ("events_stored", "stored", "Events inserted as new rows"),
    ("events_duplicate", "duplicates", "Events already stored (skipped by id)"),
    ("events_rejected", "rejected", "Messages terminated: not an event, or refused by the database"),
    ("batches", "batches", "Batches committed, one transaction each"),
    ("commit_seconds", "commit_seconds", "Seconds spent storing committed batches"),
    ("db_errors", "db_errors", "Failed database attempts (retried with backoff)"),
    ("nats_errors", "nats_errors", "Failed NATS connects or consumer interruptions (retried)"),
)


class CentralCollector(Collector):
    def __init__(self, stats: Callable[[], CentralStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        st = self._stats()
        for name, field, doc in _COUNTERS:
            yield CounterMetricFamily(f"storelens_central_{name}", doc, value=float(getattr(st, field)))
        gauges = (
            ("consumer_pending", st.consumer_pending, "Consumer lag: messages in the stream not yet delivered"),
            ("consumer_ack_pending", st.consumer_ack_pending, "Messages delivered but not yet acknowledged"),
            ("db_up", int(st.db_up), "1 when the last database attempt succeeded"),
            ("nats_connected", int(st.nats_connected), "1 while connected to NATS"),
        )
        for name, value, doc in gauges:
            if value is not None:
                yield GaugeMetricFamily(f"storelens_central_{name}", doc, value=float(value))


def central_registry(stats: Callable[[], CentralStats]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CentralCollector(stats))
    return registry


def serve_metrics(stats: Callable[[], CentralStats], host: str, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` on ``host:port`` from a thread; returns the function that stops it."""
    httpd, thread = start_http_server(port, addr=host, registry=central_registry(stats))

    def shutdown() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

    return shutdown
