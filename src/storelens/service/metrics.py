"""Prometheus metrics: one registry per app, camera and sink figures read at scrape time.

Counters that only the service sees (events by type, HTTP requests) are incremented as things
happen; everything the pipelines and sinks already count (frames, drops, queue depths, sink
failures) is read from their status objects when Prometheus scrapes, by a custom collector, so no
second set of counters can drift from the first. A registry per app (not the global default) keeps
several apps in one process, as in the tests, from colliding.

Metric names (all prefixed ``storelens_``):

* ``camera_fps``, ``camera_lag_seconds``, ``camera_online``, ``camera_last_frame_timestamp_seconds``,
  ``camera_frames_total``, ``camera_dropped_frames_total``, ``camera_queue_dropped_frames_total``
  (of the dropped: evicted because analysis was behind), ``camera_corrupt_frames_total``,
  ``camera_restarts_total``, ``camera_hangs_total``, ``camera_errors_total``,
  ``camera_stage_milliseconds`` (label ``camera``;
  the last also ``stage``)
* ``queue_depth`` (label ``queue``: ``database_memory``, ``database_spool``, ``websocket_total``,
  ``websocket_max``, and ``<sink>_pending`` for other sinks exposing a ``pending`` figure)
* ``events_total`` (label ``type``): events published on the bus; ``rate()`` gives event rates
* ``sink_errors_total`` (labels ``sink``, ``kind``), ``bus_handler_errors_total``,
  ``websocket_dropped_total``, ``websocket_clients``, ``frame_observer_errors_total``
* ``http_requests_total`` (labels ``method``, ``route``, ``status``) and
  ``http_request_duration_seconds`` (labels ``method``, ``route``)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, is_dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storelens.events.bus import EventBus
from storelens.events.models import Event
from storelens.service.runner import StoreRunner
from storelens.service.ws import StreamHub

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_ERROR_FIELDS = ("failures", "failed_attempts", "rejected", "dropped", "dead", "errors")
_PENDING_FIELDS = ("pending", "pending_memory", "pending_spool", "outbox_pending", "queued")


def _stats_dict(sink: Any) -> dict[str, Any]:
    stats_fn = getattr(sink, "stats", None)
    if stats_fn is None:
        return {}
    stats = stats_fn() if callable(stats_fn) else stats_fn
    if is_dataclass(stats) and not isinstance(stats, type):
        return asdict(stats)
    if isinstance(stats, dict):
        return stats
    return {}


class _StateCollector(Collector):
    """Reads runner, sinks, bus and hub state at scrape time."""

    def __init__(
        self,
        runner: Callable[[], StoreRunner | None],
        sinks: Callable[[], Iterable[Any]],
        bus: EventBus,
        hub: StreamHub,
    ) -> None:
        self._runner = runner
        self._sinks = sinks
        self._bus = bus
        self._hub = hub

    def collect(self) -> Iterable[Metric]:
        cam = ["camera"]
        fps = GaugeMetricFamily("storelens_camera_fps", "Analysed frames per second (last 5 s)", labels=cam)
        lag = GaugeMetricFamily("storelens_camera_lag_seconds", "Now minus the last frame's capture time", labels=cam)
        online = GaugeMetricFamily("storelens_camera_online", "1 when the camera delivers frames", labels=cam)
        last = GaugeMetricFamily(
            "storelens_camera_last_frame_timestamp_seconds", "Capture time of the last analysed frame", labels=cam
        )
        frames = CounterMetricFamily("storelens_camera_frames", "Analysed frames", labels=cam)
        dropped = CounterMetricFamily(
            "storelens_camera_dropped_frames", "Frames skipped by sampling/backlog", labels=cam
        )
        behind = CounterMetricFamily(
            "storelens_camera_queue_dropped_frames",
            "Of the dropped frames: evicted from the bounded queue because analysis was behind",
            labels=cam,
        )
        corrupt = CounterMetricFamily("storelens_camera_corrupt_frames", "Undecodable frames/packets", labels=cam)
        restarts = CounterMetricFamily("storelens_camera_restarts", "Pipeline restarts after a failure", labels=cam)
        errors = CounterMetricFamily("storelens_camera_errors", "Pipeline failures", labels=cam)
        hangs = CounterMetricFamily(
            "storelens_camera_hangs", "Workers found hung (no analysed frame) and restarted", labels=cam
        )
        stage = GaugeMetricFamily(
            "storelens_camera_stage_milliseconds",
            "Mean per-frame time of a stage (last 50 frames)",
            labels=[*cam, "stage"],
        )
        runner = self._runner()
        if runner is not None:
            for s in runner.status():
                fps.add_metric([s.camera_id], s.fps)
                online.add_metric([s.camera_id], 1.0 if s.online else 0.0)
                if s.lag_s is not None:
                    lag.add_metric([s.camera_id], s.lag_s)
                if s.last_frame_time is not None:
                    last.add_metric([s.camera_id], s.last_frame_time.timestamp())
                frames.add_metric([s.camera_id], s.frames)
                dropped.add_metric([s.camera_id], s.dropped_frames)
                behind.add_metric([s.camera_id], s.queue_dropped)
                hangs.add_metric([s.camera_id], s.hangs)
                corrupt.add_metric([s.camera_id], s.corrupt_frames)
                restarts.add_metric([s.camera_id], s.restarts)
                errors.add_metric([s.camera_id], s.errors)
                for name, ms in s.stage_ms.items():
                    stage.add_metric([s.camera_id, name], ms)
        yield from (fps, lag, online, last, frames, dropped, behind, corrupt, restarts, hangs, errors, stage)

        depth = GaugeMetricFamily("storelens_queue_depth", "Items waiting in a queue", labels=["queue"])
        sink_errors = CounterMetricFamily("storelens_sink_errors", "Sink failures by kind", labels=["sink", "kind"])
        for sink in self._sinks():
            name = str(getattr(sink, "name", type(sink).__name__))
            stats = _stats_dict(sink)
            for attr in ("dead", "failed_attempts"):  # counters kept as attributes (webhooks)
                v = getattr(sink, attr, None)
                if isinstance(v, int) and not isinstance(v, bool):
                    stats.setdefault(attr, v)
            counts = getattr(sink, "counts", None)
            if callable(counts):  # the webhook outbox lives in the database
                try:
                    stats.setdefault("pending", int(counts().get("pending", 0)))
                except Exception:  # an unreachable database must not break the scrape
                    log.debug("outbox counts of sink %s unavailable", name, exc_info=True)
            for f in _ERROR_FIELDS:
                v = stats.get(f)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    sink_errors.add_metric([name, f], float(v))
            for f in _PENDING_FIELDS:
                v = stats.get(f)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    qname = f"{name}_{f.removeprefix('pending_')}" if f.startswith("pending_") else f"{name}_{f}"
                    depth.add_metric([qname], float(v))
        ws_depths = self._hub.queue_depths()
        depth.add_metric(["websocket_total"], float(sum(ws_depths)))
        depth.add_metric(["websocket_max"], float(max(ws_depths, default=0)))
        yield depth
        yield sink_errors
        bus_err = CounterMetricFamily("storelens_bus_handler_errors", "Event handlers that raised")
        bus_err.add_metric([], float(self._bus.handler_errors))
        yield bus_err
        ws_drop = CounterMetricFamily("storelens_websocket_dropped", "Messages dropped for slow WebSocket clients")
        ws_drop.add_metric([], float(self._hub.dropped_total))
        yield ws_drop
        ws_clients = GaugeMetricFamily("storelens_websocket_clients", "Connected WebSocket clients")
        ws_clients.add_metric([], float(self._hub.clients))
        yield ws_clients
        obs = CounterMetricFamily("storelens_frame_observer_errors", "Frame observers that raised")
        obs.add_metric([], float(runner.observer_errors if runner is not None else 0))
        yield obs


class ServiceMetrics:
    """The app's registry, its event/HTTP counters and the state collector."""

    def __init__(
        self,
        bus: EventBus,
        hub: StreamHub,
        runner: Callable[[], StoreRunner | None],
        sinks: Callable[[], Iterable[Any]],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter("storelens_events", "Events published on the bus", ["type"], registry=self.registry)
        self.http_requests = Counter(
            "storelens_http_requests", "HTTP requests served", ["method", "route", "status"], registry=self.registry
        )
        self.http_latency = Histogram(
            "storelens_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.registry.register(_StateCollector(runner, sinks, bus, hub))

    def count_event(self, event: Event) -> None:
        """Bus handler."""
        self.events.labels(event.type).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
