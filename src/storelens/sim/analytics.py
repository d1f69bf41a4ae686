"""The real behaviour analytics, fed with simulated tracks.

The simulator does not imitate the behaviour analytics: it hands each frame's (noisy) shopper
positions to :class:`~storelens.analytics.stage.StoreBehaviourStage` as a :class:`Tracks` object,
the same store-level, floor-space interface the multi-camera fusion feeds in the live pipeline.
So zone stays, dwell, revisits, lingering, queues and staff flags in a simulation come from the
very code that produces them from video, with its grace periods, latencies and jitter handling,
and intent accuracy measured on the simulator is accuracy of analytics + intent together.

Around the stage this adds what the camera pipeline adds around it: ``visit.started`` at a
subject's first sighting and ``visit.ended`` once it has been unseen for
``behaviour.subject_timeout_s`` (what visit stitching reports when a visit is over).

Staff: a simulated staff member's rows carry a uniform match, as the uniform-colour rule would
read it from the torso, so :class:`~storelens.analytics.staff.StaffClassifier` flags them the way
it flags real staff (after ``staff.min_observed_s``), and their events carry ``staff: true``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from storelens.analytics.stage import StoreBehaviourStage
from storelens.config.behaviour import UniformRule
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from storelens.events.models import Event
from storelens.events.payloads import EventPayload, VisitEnded, VisitStarted

__all__ = ["StoreAnalyticsFeed", "sim_store_config"]

_SIM_UNIFORM = UniformRule(hsv_low=(100, 80, 40), hsv_high=(130, 255, 255))
"""The uniform rule the simulated store runs (its colour does not matter: matches are simulated)."""


def sim_store_config(store: StoreConfig) -> StoreConfig:
    """``store`` with a uniform rule for staff when it has none (simulated staff wear a uniform)."""
    b = store.behaviour
    if b.staff.uniform is not None:
        return store
    staff = b.staff.model_copy(update={"uniform": _SIM_UNIFORM})
    return store.model_copy(update={"behaviour": b.model_copy(update={"staff": staff})})


class StoreAnalyticsFeed:
    """Feed :meth:`update` once per frame with ``(subject, x, y, staff)`` rows in floor metres."""

    def __init__(self, store: StoreConfig) -> None:
        self.store = sim_store_config(store)
        self.stage = StoreBehaviourStage(self.store)
        self.timeout_s = self.store.behaviour.subject_timeout_s
        self._seen: dict[int, tuple[float, float]] = {}  # subject -> (first wall, last wall)
        self._t0: float | None = None

    def _event(self, payload: EventPayload, wall: float, subject: int) -> Event:
        return Event.of(payload, self.store.store_id, wall, camera_id=None, subject=subject)

    def update(self, wall: float, rows: Sequence[tuple[int, float, float, bool]]) -> list[Event]:
        if self._t0 is None:
            self._t0 = wall
        out: list[Event] = []
        for subj, *_ in rows:
            seen = self._seen.get(subj)
            if seen is None:
                out.append(self._event(VisitStarted(), wall, subj))
            self._seen[subj] = (wall if seen is None else seen[0], wall)
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        xy = np.array([(r[1], r[2]) for r in rows], dtype=np.float32).reshape(n, 2)
        tracks = Tracks(
            xyxy=np.concatenate([xy, xy], axis=1),  # a point "box" at the feet: boxes are not used here
            score=np.ones(n, np.float32),
            class_id=np.zeros(n, np.int32),
            track_id=ids,
            detection_index=np.arange(n, dtype=np.int32),
            visit_id=ids,
            floor_xy=xy,
        )
        uniform = np.fromiter((1 if r[3] else 0 for r in rows), dtype=np.int8, count=n)
        out += self.stage.update(tracks, wall - self._t0, wall, uniform=uniform)
        for subj, (first, last) in list(self._seen.items()):
            if wall - last > self.timeout_s:
                del self._seen[subj]
                out.append(self._event(VisitEnded(duration_s=round(last - first, 3)), last, subj))
        out.sort(key=lambda e: e.ts)
        return out

    def close(self, wall: float) -> list[Event]:
        """End of the simulation: close open stays and visits, as the pipeline does at end of stream."""
        out = self.stage.close(wall - (self._t0 or wall), wall)
        for subj, (first, last) in self._seen.items():
            out.append(self._event(VisitEnded(duration_s=round(last - first, 3)), last, subj))
        self._seen.clear()
        return out
