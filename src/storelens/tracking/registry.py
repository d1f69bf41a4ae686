"""Tracker name registry: ``TrackerConfig.type`` → tracker class.

A config names its tracker; nothing else in the pipeline knows which one runs. Each registered
class validates its own ``params`` (unknown names or out-of-range values are a ``ValueError``
that lists what is allowed), so a typo in ``store.yaml`` fails at start-up, not mid-stream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from storelens.config.detection import TrackerConfig
from storelens.tracking.base import Tracker
from storelens.tracking.bytetrack import ByteTrackTracker
from storelens.tracking.stitching import VisitStitcher
from storelens.tracking.storelens_tracker import StorelensTracker

TrackerFactory = Callable[[Mapping[str, Any] | None], Tracker]

TRACKERS: dict[str, TrackerFactory] = {
    StorelensTracker.name: StorelensTracker.from_params,
    ByteTrackTracker.name: ByteTrackTracker.from_params,
}
"""Registered trackers by name. ``storelens`` is the default and the most accurate."""

DEFAULT_TRACKER = StorelensTracker.name


def make_tracker(cfg: TrackerConfig | None = None) -> Tracker:
    """Build the tracker a config names, with its parameter overrides applied."""
    cfg = cfg or TrackerConfig()
    factory = TRACKERS.get(cfg.type)
    if factory is None:
        raise ValueError(f"unknown tracker {cfg.type!r}; known trackers: {sorted(TRACKERS)}")
    return factory(cfg.params)


def make_stitcher(cfg: TrackerConfig | None = None) -> VisitStitcher | None:
    """The visit stitcher a config asks for (``None`` when ``stitching: false``)."""
    cfg = cfg or TrackerConfig()
    if not cfg.stitching:
        return None
    return VisitStitcher.from_params(cfg.stitching_params)
