"""The service's camera runner: the shared supervised runner with the service's defaults.

`storelens serve` and `storelens run` run cameras through one
:class:`~storelens.pipeline.supervisor.StoreSupervisor` (a worker per camera, restarted with
backoff when it crashes or hangs, bounded drop-oldest queues, the store-level stage, a clean
stop); this module keeps the names the API and ``/metrics`` use. The service's policy: every
camera is rebuilt after any failure (a flaky RTSP camera or a bad frame never takes the other
cameras or the API down), file sources may be replayed (``loop``) and paced to real time.

The pipeline publishes its events to the bus it was built with; the service subscribes the
database sink and the WebSocket hub to that bus. ``on_frame`` observers (overlay metadata, live
heat maps) run in the camera's worker after every analysed frame; they must be cheap, and an
observer that raises is logged and skipped rather than crashing the camera.

``status()`` gives a snapshot per camera for the API and ``/metrics``: state, online, fps over the
last few seconds, last frame time, lag (now minus the frame's capture time), dropped (of them:
evicted because analysis was behind) and corrupt frames, restarts, hangs, errors and the last
error (credential-free).
"""

from __future__ import annotations

from storelens.pipeline.supervisor import (
    BuildCamera,
    CameraState,
    CameraStatus,
    DetectorFactory,
    FrameObserver,
    PacedSource,
    QueuedSource,
    StoreSupervisor,
    is_file_source,
)

__all__ = [
    "BuildCamera",
    "CameraState",
    "CameraStatus",
    "DetectorFactory",
    "FrameObserver",
    "PacedSource",
    "QueuedSource",
    "StoreRunner",
    "is_file_source",
]

StoreRunner = StoreSupervisor
"""The service's name for the supervised runner (its defaults are the service's policy)."""
