"""Draw what storelens sees onto a redacted copy of the frame.

The annotator never draws on the raw frame: it redacts first, through a
:class:`~storelens.privacy.frames.FrameRedactor`, and draws on the :class:`RedactedFrame` that
returns, which is what the video writer accepts (and nothing else), so the annotated video cannot
show an unblurred head. Dwell timers come from the zone events themselves (entered → start,
exited → stop), so what the video shows is exactly what was recorded in the database.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.cameras import ZoneConfig, ZoneKind
from storelens.core.results import FrameResult
from storelens.events.models import EventType, format_subject
from storelens.privacy.frames import FrameRedactor, RedactedFrame
from storelens.privacy.motion import MotionRegions

ZONE_COLOURS: dict[ZoneKind, tuple[int, int, int]] = {
    ZoneKind.ENTRANCE: (80, 200, 80),
    ZoneKind.AISLE: (200, 160, 60),
    ZoneKind.SHELF: (60, 140, 240),
    ZoneKind.DISPLAY: (230, 90, 200),
    ZoneKind.CHECKOUT: (60, 220, 220),
    ZoneKind.QUEUE: (40, 180, 255),
    ZoneKind.STAFF_ONLY: (90, 90, 90),
    ZoneKind.OTHER: (200, 200, 200),
}


def _colour_for(subject: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(subject & 0xFFFFFFFF)
    c = rng.integers(60, 255, size=3)
    return int(c[0]), int(c[1]), int(c[2])


class Annotator:
    """Turns each FrameResult into an annotated :class:`RedactedFrame`."""

    def __init__(self, zones: Sequence[ZoneConfig], scale: float = 1.0) -> None:
        self.zones = list(zones)
        self.scale = scale  # zone coordinates are in native pixels; frames may be downscaled
        # No detectors of its own: the pipeline's detections (and face boxes) locate the heads, and
        # what moves outside every detection is blurred whole (a person the detector missed).
        self.redactor = FrameRedactor(motion=MotionRegions())
        self._in_zone: dict[tuple[str, str], float] = {}  # (subject, zone) -> entered wall time

    def _follow_events(self, result: FrameResult) -> None:
        for e in result.events:
            if e.zone_id is None or e.subject is None:
                continue
            key = (e.subject, e.zone_id)
            if e.type == EventType.ZONE_ENTERED:
                self._in_zone[key] = e.ts.timestamp()
            elif e.type == EventType.ZONE_EXITED:
                self._in_zone.pop(key, None)

    def draw(self, result: FrameResult, face_xyxy: npt.NDArray[np.float32] | None = None) -> RedactedFrame:
        """The redacted frame with zones, tracks and timers drawn on it (``face_xyxy``: face boxes
        found elsewhere in the pipeline, blurred as well)."""
        self._follow_events(result)
        frame, tracks, dets = result.frame, result.tracks, result.detections
        # Redact with every detection (not only confirmed tracks) so a new arrival is blurred too.
        red = self.redactor(frame.image, dets, known_faces=face_xyxy)
        img = red.image  # a fresh array only this call holds: everything below draws on it in place
        overlay = img.copy()
        for z in self.zones:
            pts = np.round(np.asarray(z.points) * self.scale).astype(np.int32).reshape(-1, 1, 2)
            colour = ZONE_COLOURS.get(z.kind, (200, 200, 200))
            cv2.fillPoly(overlay, [pts], colour)
            cv2.polylines(img, [pts], True, colour, 2, cv2.LINE_AA)
            x, y = pts.reshape(-1, 2).min(axis=0)
            occupants = sum(1 for (_, zid) in self._in_zone if zid == z.id)
            cv2.putText(
                img,
                f"{z.label} ({occupants})",
                (int(x) + 4, int(y) + 18),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.55,
                colour,
                2,
                cv2.LINE_AA,
            )
        cv2.addWeighted(overlay, 0.18, img, 0.82, 0, dst=img)
        now = frame.wall_time
        for i in range(len(tracks)):
            x1, y1, x2, y2 = (round(float(v)) for v in tracks.xyxy[i])
            sid = int(tracks.subject_id[i])
            colour = _colour_for(sid)
            coasting = tracks.detection_index[i] < 0
            cv2.rectangle(img, (x1, y1), (x2, y2), colour, 1 if coasting else 2, cv2.LINE_AA)
            label = f"#{format_subject(sid)[-4:]}"
            timers = [
                f"{zid} {now - t0:.0f}s" for (subj, zid), t0 in self._in_zone.items() if subj == format_subject(sid)
            ]
            lines = [label, *timers]
            top = y1 - 6 - 16 * (len(lines) - 1)
            if top < 14:  # no room above the box (person at the top edge): write inside it
                top = y1 + 18
            for j, text in enumerate(lines):
                yy = top + 16 * j
                cv2.putText(img, text, (x1 + 2, yy), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(img, text, (x1 + 2, yy), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
            if tracks.keypoints is not None and not coasting:
                for x, y, v in tracks.keypoints[i, 5:]:  # body only: head points are not drawn
                    if v >= 0.5:
                        cv2.circle(img, (int(x), int(y)), 2, colour, -1, cv2.LINE_AA)
        cv2.putText(
            img,
            f"t={frame.pts:6.1f}s  people={len(tracks)}",
            (8, img.shape[0] - 10),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        return red
