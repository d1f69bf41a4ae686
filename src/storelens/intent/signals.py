"""What the intent engine consumes: events from the other stages plus a small kinematics sample.

The intent engine must not depend on how behaviour, interaction or expression analytics are built,
only on what they publish. This module is that contract, in one place, so the stages (and the store
simulator, which stands in for them) can be aligned by reading one file.

Inputs per analysed frame
-------------------------
* :class:`KinematicSample` per visible shopper: ``subject`` (the visit/track id as an ``int``,
  what ``Event.subject_id`` reads back from the events' wire string), ``ts`` (UNIX seconds),
  position ``x, y`` in floor metres (``space="floor"``) or image pixels (``space="image"``), and
  optionally ``speed`` (m/s or px/s). Without ``speed`` the engine derives it from positions.
  :func:`samples_from_tracks` builds them from :class:`~storelens.core.types.Tracks`.
* Events (:class:`~storelens.events.models.Event`). Keys read, per type (``zone_id`` is
  ``Event.zone_id``; every key is optional unless marked *required*; unknown keys are ignored):

=====================  ========================================================================
type                   payload keys read
=====================  ========================================================================
visit.started          ``staff`` (bool)
visit.ended            (none): the visit is over
zone.entered           ``zone_kind`` or ``kind``, ``category``, ``zone_name`` or ``name``,
                       ``staff``; the event ``ts`` is the first inside time (may be back-dated)
zone.exited            ``dwell_s``, plus the zone.entered keys
zone.revisited         ``category``, ``zone_kind``, ``count`` or ``visit_number``
zone.lingering         ``category``, ``zone_kind``, ``duration_s``
shelf.reach            ``shelf`` (else ``zone_id``), ``category``, ``duration_s``
product.picked         ``shelf`` (else ``zone_id``), ``category``, ``confidence`` (0..1)
product.returned       same as product.picked
attention.started      ``target`` (else ``zone_id``), ``category``
attention.ended        ``target`` (else ``zone_id``), ``category``, ``duration_s``
expression.summary     ``affect`` (positive | neutral | negative | confused | unknown; synonyms
                       happy, frustrated, surprised accepted), ``confidence`` (0..1),
                       ``affect_scores`` or ``scores`` (optional dict affect -> probability)
queue.updated          ``length``: per zone, not per shopper; the engine reads queue presence from
                       zone.entered/exited of ``queue`` zones instead
=====================  ========================================================================

Zone kind and category also come from the store config (``zones=`` of the engine) when the
payload lacks them, so stages need not repeat them on every event. Any event whose payload has
``staff: true`` marks its visit as staff (not scored). The running expression value (between
``expression.summary`` events, which the pipeline emits per zone visit) can be fed directly with
:meth:`storelens.intent.engine.IntentEngine.observe_affect`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from storelens.config.cameras import ZoneConfig
from storelens.core.types import Tracks
from storelens.events.models import Event, EventType
from storelens.events.payloads import (
    AttentionEnded,
    AttentionStarted,
    ExpressionSummary,
    ProductPicked,
    ProductReturned,
    ShelfReach,
    ZoneDwellExceeded,
    ZoneEntered,
    ZoneExited,
    ZoneLingering,
    ZoneRevisited,
    typed,
)

__all__ = [
    "AFFECTS",
    "AffectReading",
    "InteractionSignal",
    "KinematicSample",
    "ZoneInfo",
    "ZoneSignal",
    "parse_affect",
    "parse_interaction",
    "parse_zone",
    "samples_from_tracks",
    "zone_catalogue",
]

Space = Literal["floor", "image"]

AFFECTS: tuple[str, ...] = ("positive", "neutral", "negative", "confused")
"""Retail affect classes (issue 6): positive (happy), neutral, negative/frustrated (angry, disgust,
sad), confused/surprised (surprise, fear)."""

_AFFECT_SYNONYMS = {
    "positive": "positive",
    "happy": "positive",
    "neutral": "neutral",
    "negative": "negative",
    "frustrated": "negative",
    "angry": "negative",
    "sad": "negative",
    "disgust": "negative",
    "confused": "confused",
    "surprised": "confused",
    "surprise": "confused",
    "fear": "confused",
}


@dataclass(frozen=True, slots=True)
class KinematicSample:
    """Where one shopper is in one analysed frame."""

    subject: int
    ts: float
    x: float
    y: float
    space: Space = "floor"
    speed: float | None = None
    camera_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.subject, int) or isinstance(self.subject, bool) or self.subject < 0:
            raise ValueError(f"KinematicSample.subject must be a visit/track id (an int >= 0), got {self.subject!r}")
        if not (np.isfinite(self.ts) and np.isfinite(self.x) and np.isfinite(self.y)):
            raise ValueError(f"KinematicSample for {self.subject!r} has a non-finite time or position")
        if self.speed is not None and not (np.isfinite(self.speed) and self.speed >= 0):
            raise ValueError(f"KinematicSample.speed must be finite and >= 0, got {self.speed}")


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    """What the engine needs to know about a zone: its kind, category and a printable name."""

    zone_id: str
    kind: str
    category: str | None
    name: str


@dataclass(frozen=True, slots=True)
class ZoneSignal:
    """A parsed zone event."""

    zone: ZoneInfo
    dwell_s: float | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class InteractionSignal:
    """A parsed shelf.reach / product.* / attention.* event: which shelf (or display) and category."""

    target: str
    category: str | None
    duration_s: float | None = None
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class AffectReading:
    """A per-visit affect value: probabilities over :data:`AFFECTS` and how much to trust them."""

    probs: Mapping[str, float]
    confidence: float
    label: str


def zone_catalogue(zones: Sequence[ZoneConfig]) -> dict[str, ZoneInfo]:
    """Zone id -> :class:`ZoneInfo` from the store config (kind, category, name)."""
    return {z.id: ZoneInfo(z.id, str(z.kind), z.category, z.label) for z in zones}


def _text(*values: str | None) -> str | None:
    """The first non-empty value: producers name some fields two ways, and an empty one says nothing."""
    return next((v for v in values if v), None)


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def parse_zone(event: Event, catalogue: Mapping[str, ZoneInfo]) -> ZoneSignal | None:
    """Zone kind/category/name from the payload, falling back to the store config; None without a
    zone id (nothing to attribute the stay to)."""
    if event.zone_id is None:
        return None
    known = catalogue.get(event.zone_id)
    kind = category = name = None
    dwell: float | None = None
    count: int | None = None
    match p := event.typed_payload():
        case ZoneEntered() | ZoneExited() | ZoneDwellExceeded():
            kind, category, name = _text(p.zone_kind, p.kind), p.category, _text(p.zone_name, p.name)
            dwell = None if isinstance(p, ZoneEntered) else p.dwell_s
        case ZoneRevisited():
            kind, category, name = p.zone_kind, p.category, p.zone_name
            count = p.count if p.count is not None else p.visit_number
        case ZoneLingering():
            kind, category, name = p.zone_kind, p.category, p.zone_name
    return ZoneSignal(
        zone=ZoneInfo(
            event.zone_id,
            _text(kind) or (known.kind if known else "other"),
            _text(category) or (known.category if known else None),
            _text(name) or (known.name if known else event.zone_id),
        ),
        dwell_s=_finite(dwell),
        count=count,
    )


def parse_interaction(event: Event, catalogue: Mapping[str, ZoneInfo]) -> InteractionSignal | None:
    """Shelf / display interaction; category from the payload, else from the shelf's zone config."""
    target = category = None
    duration: float | None = None
    conf: float | None = None
    match p := event.typed_payload():
        case ShelfReach():
            target, category, duration = p.shelf, p.category, p.duration_s
        case ProductPicked() | ProductReturned():
            target, category, conf = p.shelf, p.category, p.confidence
        case AttentionStarted():
            target, category = p.target, p.category
        case AttentionEnded():
            target, category, duration = p.target, p.category, p.duration_s
    target = _text(target) or event.zone_id
    if target is None:
        return None
    known = catalogue.get(target)
    conf = _finite(conf)
    return InteractionSignal(
        target=target,
        category=_text(category) or (known.category if known else None),
        duration_s=_finite(duration),
        confidence=1.0 if conf is None else min(max(conf, 0.0), 1.0),
    )


def parse_affect(event: Event) -> AffectReading | None:
    """Affect from an ``expression.summary``; None for "unknown" (a low-quality face is not a
    reading, and must not pull the running value toward neutral)."""
    p = typed(event, ExpressionSummary)
    if p is None:
        return None
    conf = _finite(p.confidence)
    conf = 0.0 if conf is None else min(max(conf, 0.0), 1.0)
    probs = dict.fromkeys(AFFECTS, 0.0)
    scores = p.affect_scores or p.scores
    if scores:
        for k, v in scores.items():
            a = _AFFECT_SYNONYMS.get(k.lower())
            if a is not None and math.isfinite(v) and v > 0:
                probs[a] += v
        total = sum(probs.values())
        if total <= 0:
            return None
        probs = {a: v / total for a, v in probs.items()}
        label = max(probs, key=lambda a: probs[a])
    else:
        label_or_none = _AFFECT_SYNONYMS.get(p.affect.lower()) if p.affect is not None else None
        if label_or_none is None:
            return None
        label = label_or_none
        probs[label] = 1.0
    if conf <= 0:
        return None
    return AffectReading(probs=probs, confidence=conf, label=label)


def samples_from_tracks(tracks: Tracks, wall_time: float, camera_id: str | None = None) -> list[KinematicSample]:
    """One sample per track row: floor position when the floor mapper ran, else the feet point in
    pixels. Rows without a finite position are skipped (a shopper outside the calibrated area)."""
    if len(tracks) == 0:
        return []
    floor = tracks.floor_xy is not None
    pts = np.asarray(tracks.floor_xy if tracks.floor_xy is not None else tracks.bottom_center, dtype=np.float64)
    space: Space = "floor" if floor else "image"
    speeds = tracks.data.get("speed")
    out: list[KinematicSample] = []
    for i, subj in enumerate(tracks.subject_id.tolist()):
        x, y = float(pts[i, 0]), float(pts[i, 1])
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        speed = None
        if speeds is not None:
            s = float(speeds[i])
            speed = s if np.isfinite(s) and s >= 0 else None
        out.append(KinematicSample(int(subj), wall_time, x, y, space, speed, camera_id))
    return out


ZONE_EVENTS = frozenset(
    {EventType.ZONE_ENTERED, EventType.ZONE_EXITED, EventType.ZONE_REVISITED, EventType.ZONE_LINGERING}
)
INTERACTION_EVENTS = frozenset(
    {
        EventType.SHELF_REACH,
        EventType.PRODUCT_PICKED,
        EventType.PRODUCT_RETURNED,
        EventType.ATTENTION_STARTED,
        EventType.ATTENTION_ENDED,
    }
)
