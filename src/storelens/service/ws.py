"""WebSocket fan-out of live events and per-camera overlay metadata, never blocking the pipeline.

Producers (the event bus handler and the runner's frame observer) run in camera threads. They
serialise a message once and append it to each interested client's bounded deque; a full deque
drops its *oldest* message and counts the drop. Waking the client's sender coroutine is a
``call_soon_threadsafe``, which never waits. So a client on a slow link can only lose its own
backlog: the camera thread's cost is the same whether a client reads fast, slowly or not at all.

Messages (JSON text frames), see docs/API.md:

* ``{"kind": "hello", ...}`` once, with the accepted filters and the queue size;
* ``{"kind": "event", "event": {...}}`` per event (the Event JSON schema);
* ``{"kind": "overlay", "camera_id", "frame", "ts", "width", "height", "objects": [...]}`` with the
  boxes and random short-lived ids of the current frame (no image, no identity), at most
  ``overlay_max_hz`` per camera;
* ``{"kind": "dropped", "count", "total"}`` before the next delivered message after a drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from storelens.core.results import FrameResult
from storelens.events.models import Event, format_subject
from storelens.storage.serialize import json_dumps

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """What one client wants: event type prefixes/exact types (empty = all), cameras (empty = all).

    ``visible_cameras``/``visible_zones`` are what the client may see at all (its principal's
    access, ``service.scope``; None: everything): an event of another camera, or without a camera
    in another camera's zone, or with neither, is never queued for it, whatever it asked for."""

    types: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    events: bool = True
    overlay: bool = False
    visible_cameras: frozenset[str] | None = None
    visible_zones: frozenset[str] | None = None

    def visible(self, camera_id: str | None, zone_id: str | None) -> bool:
        if self.visible_cameras is None:
            return True
        if camera_id is not None:
            return camera_id in self.visible_cameras
        return zone_id is not None and zone_id in (self.visible_zones or frozenset())

    def wants_event(self, event: Event) -> bool:
        if not self.events or not self.visible(event.camera_id, event.zone_id):
            return False
        if self.types and not any(
            event.type == t or (t.endswith(".") and event.type.startswith(t)) for t in self.types
        ):
            return False
        return not self.cameras or event.camera_id in self.cameras

    def wants_overlay(self, camera_id: str) -> bool:
        return self.overlay and self.visible(camera_id, None) and (not self.cameras or camera_id in self.cameras)


class _Client:
    def __init__(self, flt: StreamFilter, queue_size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.filter = flt
        self.queue: deque[str] = deque(maxlen=queue_size)
        self.dropped = 0
        self.reported_dropped = 0
        self.sent = 0
        self.loop = loop
        self.wake = asyncio.Event()
        self._lock = threading.Lock()
        self._wake_pending = False

    def push(self, text: str) -> bool:
        """Queue a message (dropping the oldest when full); True when one was dropped."""
        with self._lock:
            dropped = len(self.queue) == self.queue.maxlen
            if dropped:
                self.dropped += 1
            self.queue.append(text)
            need_wake = not self._wake_pending
            self._wake_pending = True
        if need_wake:
            # RuntimeError: the client's loop is gone (shutting down), nothing to wake
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.wake.set)
        return dropped

    def take(self) -> tuple[list[str], int]:
        with self._lock:
            items = list(self.queue)
            self.queue.clear()
            self._wake_pending = False
            new_drops = self.dropped - self.reported_dropped
            self.reported_dropped = self.dropped
        return items, new_drops


def overlay_message(camera_id: str, result: FrameResult) -> dict[str, Any]:
    """Boxes and random visit ids of one frame: what a dashboard draws over its own video view."""
    tracks = result.tracks
    frame = result.frame
    subjects = tracks.subject_id.tolist()
    boxes = tracks.xyxy.astype(np.float64).round(1).tolist()  # float32 would print 0.8999999761581421
    scores = tracks.score.astype(np.float64).round(3).tolist()
    matched = tracks.is_matched.tolist()
    objects = [
        {"id": format_subject(int(s)), "track": int(t), "box": b, "score": sc, "coasting": not m}
        for s, t, b, sc, m in zip(subjects, tracks.track_id.tolist(), boxes, scores, matched, strict=True)
    ]
    return {
        "kind": "overlay",
        "camera_id": camera_id,
        "frame": frame.index,
        "ts": datetime.fromtimestamp(frame.wall_time, tz=UTC).isoformat(),
        "width": frame.width,
        "height": frame.height,
        "objects": objects,
    }


class StreamHub:
    """Clients of ``/api/v1/stream`` and the producers that feed them (see module docstring)."""

    def __init__(self, queue_size: int = 1000, overlay_max_hz: float = 10.0) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        if overlay_max_hz <= 0:
            raise ValueError("overlay_max_hz must be > 0")
        self.queue_size = queue_size
        self.overlay_interval_s = 1.0 / overlay_max_hz
        self._clients: set[_Client] = set()
        self._lock = threading.Lock()
        self._last_overlay: dict[str, float] = {}
        self.dropped_total = 0
        self.delivered_total = 0
        self.connections_total = 0

    # ---------------------------------------------------------------------------- producers
    def _snapshot(self) -> list[_Client]:
        with self._lock:
            return list(self._clients)

    def publish_event(self, event: Event) -> None:
        """Bus handler: queue ``event`` for every client whose filter accepts it."""
        targets = [c for c in self._snapshot() if c.filter.wants_event(event)]
        if not targets:
            return
        text = json_dumps({"kind": "event", "event": event.to_json_dict()})
        self._push(targets, text)

    def publish_overlay(self, camera_id: str, result: FrameResult) -> None:
        """Frame observer: queue the frame's overlay for clients that asked for it (rate-limited)."""
        targets = [c for c in self._snapshot() if c.filter.wants_overlay(camera_id)]
        if not targets:
            return
        now = time.monotonic()
        last = self._last_overlay.get(camera_id)
        if last is not None and now - last < self.overlay_interval_s:
            return
        self._last_overlay[camera_id] = now
        self._push(targets, json.dumps(overlay_message(camera_id, result), separators=(",", ":")))

    def _push(self, targets: Sequence[_Client], text: str) -> None:
        drops = sum(1 for c in targets if c.push(text))
        if drops:
            with self._lock:
                self.dropped_total += drops

    # ------------------------------------------------------------------------------ metrics
    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def queue_depths(self) -> list[int]:
        return [len(c.queue) for c in self._snapshot()]

    # ------------------------------------------------------------------------------ serving
    async def serve(self, websocket: WebSocket, flt: StreamFilter, hello: dict[str, Any]) -> None:
        """Deliver messages to one accepted WebSocket until it disconnects."""
        client = _Client(flt, self.queue_size, asyncio.get_running_loop())
        with self._lock:
            self._clients.add(client)
            self.connections_total += 1
        try:
            await websocket.send_text(json.dumps({"kind": "hello", **hello, "queue_size": self.queue_size}))
            # anyio (what Starlette runs on) rather than bare asyncio tasks: when the server or the
            # test client cancels the connection, the cancel scope ends both loops cleanly
            async with anyio.create_task_group() as tg:

                async def run(loop: Callable[[], Awaitable[None]]) -> None:
                    try:
                        await loop()
                    except (WebSocketDisconnect, RuntimeError, OSError) as exc:  # the client went away
                        log.debug("websocket client gone: %r", exc)
                    tg.cancel_scope.cancel()  # one loop ended: end the other too

                tg.start_soon(run, lambda: self._send_loop(websocket, client))
                tg.start_soon(run, lambda: self._receive_loop(websocket))
        finally:
            with self._lock:
                self._clients.discard(client)

    async def _send_loop(self, websocket: WebSocket, client: _Client) -> None:
        while True:
            await client.wake.wait()
            client.wake.clear()
            items, new_drops = client.take()
            if new_drops:
                await websocket.send_text(json.dumps({"kind": "dropped", "count": new_drops, "total": client.dropped}))
            for text in items:
                await websocket.send_text(text)
            client.sent += len(items)
            with self._lock:
                self.delivered_total += len(items)

    @staticmethod
    async def _receive_loop(websocket: WebSocket) -> None:
        """Read (and ignore) client frames so a disconnect is noticed even while nothing is sent."""
        while True:
            message = await websocket.receive()
            if message.get("type") == "websocket.disconnect":
                return
