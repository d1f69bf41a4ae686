"""What one camera frame produced, as every consumer downstream of the pipeline sees it.

:class:`FrameResult` is built by the camera pipeline and read by the video writer
(``output/annotate.py``), the service's camera runner and WebSocket overlay, the heat-map
recorder and the store-level fusion. It lives in ``core`` so that none of those has to import the
pipeline's internals for a type. ``Event`` and ``HeatmapAccumulator`` are named for type checking only: ``core`` imports
nothing of storelens at run time (events and analytics sit above core).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storelens.core.types import Detections, Frame, Tracks

if TYPE_CHECKING:
    from storelens.analytics.heatmap import HeatmapAccumulator
    from storelens.events.models import Event


@dataclass(slots=True)
class FrameResult:
    """One processed frame: its detections, the tracks after this frame, the events the stages
    emitted for it, how long each stage took (milliseconds, by stage name), and the camera's heat
    map as the behaviour stage left it after this frame (None without one): the heat-map recorder
    stores that accumulator instead of counting the frame again."""

    frame: Frame
    detections: Detections
    tracks: Tracks
    events: list[Event]
    timings_ms: dict[str, float]
    heat: HeatmapAccumulator | None = None
