"""Multi-object tracking and visit stitching.

``make_tracker(cfg)`` builds the tracker a :class:`~storelens.config.detection.TrackerConfig` names
(``storelens``, the default, or ``bytetrack``); ``VisitStitcher`` joins track fragments into
shopper visits. See ``docs/TRACKING.md``.
"""

from storelens.tracking.base import Tracker
from storelens.tracking.bytetrack import ByteTrackTracker
from storelens.tracking.registry import DEFAULT_TRACKER, TRACKERS, make_stitcher, make_tracker
from storelens.tracking.stitching import StitchParams, VisitStitcher, VisitSummary
from storelens.tracking.storelens_tracker import StorelensTracker

__all__ = [
    "DEFAULT_TRACKER",
    "TRACKERS",
    "ByteTrackTracker",
    "StitchParams",
    "StorelensTracker",
    "Tracker",
    "VisitStitcher",
    "VisitSummary",
    "make_stitcher",
    "make_tracker",
]
