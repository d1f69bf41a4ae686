"""The Tracker protocol.

A tracker is a stateful object with one method, called once for every analysed frame, *even when
there are no detections* (pass ``Detections.empty()``), so that it can age tracks. ``timestamp`` is
the frame's ``pts`` in seconds: motion models use real time, so dropped frames are not mistaken for
slow motion. ``image`` (BGR) enables appearance cues where a tracker has them. Ids come from a
counter owned by the instance; no globals.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from storelens.core.types import Detections, Tracks


@runtime_checkable
class Tracker(Protocol):
    def update(self, detections: Detections, timestamp: float, image: npt.NDArray[np.uint8] | None = None) -> Tracks:
        """Advance one frame; returns the confirmed tracks visible (or coasting) in it."""
        ...

    def reset(self) -> None: ...


@runtime_checkable
class PredictsBoxes(Protocol):
    """A tracker that can say where its tracks are expected in the next frame (the Kalman trackers
    can): the second detector pass crops there when the full frame found nobody."""

    def predicted_boxes(self, timestamp: float) -> npt.NDArray[np.float64]:
        """xyxy boxes of every live track predicted to ``timestamp``; no state changes."""
        ...
