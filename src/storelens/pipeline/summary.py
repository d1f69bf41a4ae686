"""Build the end-of-run summary (summary.json and the terminal table) from the events themselves.

The summary is computed from the same events that went to the database, not from pipeline
internals, so the numbers a manager reads match what the API and exports serve.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from storelens.config.store import StoreConfig
from storelens.events.models import Event, EventType
from storelens.events.payloads import VisitEnded, ZoneExited, typed


def _stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    arr = np.asarray(values, dtype=float)
    return {
        "count": len(values),
        "total_s": round(float(arr.sum()), 2),
        "mean_s": round(float(arr.mean()), 2),
        "median_s": round(float(np.median(arr)), 2),
        "p90_s": round(float(np.percentile(arr, 90)), 2),
        "max_s": round(float(arr.max()), 2),
    }


class SummaryCollector:
    """Bus subscriber that keeps just enough to summarise a run."""

    def __init__(self, store: StoreConfig) -> None:
        self.store = store
        self.by_type: Counter[str] = Counter()
        self.visits: list[dict[str, Any]] = []
        self.zone_dwell: dict[str, list[float]] = defaultdict(list)
        self.zone_subjects: dict[str, set[str]] = defaultdict(set)
        self.camera_status: list[dict[str, Any]] = []

    def __call__(self, event: Event) -> None:
        self.by_type[event.type] += 1
        if (ended := typed(event, VisitEnded)) is not None:
            self.visits.append(
                {
                    "visit": event.subject,
                    "camera": event.camera_id,
                    "ended": event.ts.isoformat(),
                    "duration_s": ended.duration_s,
                    "fragments": ended.fragments,
                    "confidence": ended.confidence,
                }
            )
        elif (exited := typed(event, ZoneExited)) is not None and event.zone_id is not None:
            self.zone_dwell[event.zone_id].append(exited.dwell_s or 0.0)
            if event.subject is not None:
                self.zone_subjects[event.zone_id].add(event.subject)
        elif event.type in (EventType.CAMERA_OFFLINE, EventType.CAMERA_ONLINE):
            self.camera_status.append({"type": event.type, "camera": event.camera_id, "ts": event.ts.isoformat()})

    def zones_table(self) -> list[dict[str, Any]]:
        rows = []
        for z in self.store.zones:
            rows.append(
                {
                    "zone": z.id,
                    "name": z.label,
                    "kind": str(z.kind),
                    "visitors": len(self.zone_subjects.get(z.id, set())),
                    "dwell": _stats(self.zone_dwell.get(z.id, [])),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store.store_id,
            "visits": {
                "count": len(self.visits),
                "duration": _stats([float(v["duration_s"] or 0.0) for v in self.visits]),
                "items": self.visits,
            },
            "zones": self.zones_table(),
            "events_by_type": dict(sorted(self.by_type.items())),
            "camera_status": self.camera_status,
        }
