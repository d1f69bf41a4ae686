"""Pick-up vs put-back: did the shelf look different around the hand after a reach?

For every finished reach the judge compares a clean view of the shelf from *before* the hand went
in with a clean view from *after* it left, only in the neighbourhood of the hand's path (so another
shopper's pick further along the shelf is not this reach's), and only on pixels that no person
covered in either view (box plus keypoint hull, see :class:`~storelens.interaction.shelf_state.ShelfRegion`).

* **change**: per grid cell, 1 - zero-mean normalised cross-correlation of the two grey crops.
  ZNCC ignores any gain and offset of a cell's brightness, so lights dimming or exposure drifting
  between the two views is not a change; rearranged or missing products are.
* **direction**: against the shelf's stocked reference when there is one (the after view further
  from the reference than the before view = something went missing = *picked*; closer = *returned*),
  else by texture alone (texture lost = picked, gained = returned).
* **hand cue**: in the second after the reach, a hand held in front of the body (not hanging) is
  what carrying a product looks like; it moves the confidence a little, never the decision.

Outcomes: "picked" / "returned" (an event with a confidence), "none" (fewer than
``min_changed_cells`` changed: a touch, or a change too small to see), "undetermined" (no clean
before/after view within ``max_wait_s``). What cannot be told is in ``docs/INTERACTION.md``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.interaction import PickupConfig
from storelens.interaction.reach import HAND_NAMES, HandObservations, Reach, ReachStart
from storelens.interaction.shelf_state import ShelfRegion, ShelfState, _cell_sum, cell_stats, cell_texture

__all__ = ["ChangeResult", "PickupDecision", "PickupJudge", "compare_views"]

_FLAT_CONTRAST = 0.02
"""A cell whose intensity std / mean is below this in both views is flat (shelf back, wall): it
has no structure to correlate and is 'unchanged'."""
_SATURATED = 250
_CARRY_WINDOW_S = 1.0
_BEFORE_CANDIDATES = 6


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """Per-cell comparison of two views of a region (all counts are grid cells)."""

    region_cells: int
    valid_cells: int
    changed_cells: int
    mean_change: float
    texture_log_ratio: float  # mean log(texture_after / texture_before) over changed cells
    changed: npt.NDArray[np.bool_]  # (gh, gw)
    texture_before: npt.NDArray[np.float64]
    texture_after: npt.NDArray[np.float64]

    @property
    def valid_fraction(self) -> float:
        return self.valid_cells / self.region_cells if self.region_cells else 0.0


def compare_views(
    before: npt.NDArray[np.uint8],
    after: npt.NDArray[np.uint8],
    region: npt.NDArray[np.bool_],
    valid: npt.NDArray[np.bool_],
    cell_px: int,
    change_threshold: float,
) -> ChangeResult:
    """Compare two grey crops of the same size cell by cell over ``region & valid``."""
    if before.shape != after.shape or before.shape != region.shape or region.shape != valid.shape:
        raise ValueError(
            f"views and masks must have one shape, got {before.shape}, {after.shape}, {region.shape}, {valid.shape}"
        )
    # pixels clipped at white in either view have lost their structure (a brighter second view
    # saturates white packaging); they cannot say whether anything changed
    valid = valid & (before < _SATURATED) & (after < _SATURATED)
    v = (region & valid).astype(np.float64)
    stats = cell_stats(region, region & valid, cell_px)
    in_region = stats.region >= 0.3 * stats.cell_area
    judged = stats.judged
    a = before.astype(np.float64)
    b = after.astype(np.float64)
    n = np.maximum(stats.n, 1.0)
    sa, sb = _cell_sum(a * v, cell_px) / n, _cell_sum(b * v, cell_px) / n
    var_a = np.maximum(_cell_sum(a * a * v, cell_px) / n - sa * sa, 0.0)
    var_b = np.maximum(_cell_sum(b * b * v, cell_px) / n - sb * sb, 0.0)
    cov = _cell_sum(a * b * v, cell_px) / n - sa * sb
    sd_a, sd_b = np.sqrt(var_a), np.sqrt(var_b)
    flat_a = sd_a < _FLAT_CONTRAST * (sa + 1.0)
    flat_b = sd_b < _FLAT_CONTRAST * (sb + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = np.where(flat_a | flat_b, 0.0, cov / (sd_a * sd_b))
    ncc = np.where(flat_a & flat_b, 1.0, ncc)
    score = 1.0 - np.clip(np.nan_to_num(ncc, nan=1.0), -1.0, 1.0)
    changed = judged & (score > change_threshold)
    valid_mask = region & valid
    tex_a = cell_texture(before, valid_mask, cell_px)
    tex_b = cell_texture(after, valid_mask, cell_px)
    if changed.any():
        eps = 1e-3
        ratio = np.log((np.nan_to_num(tex_b[changed]) + eps) / (np.nan_to_num(tex_a[changed]) + eps))
        log_ratio = float(ratio.mean())
        mean_change = float(score[changed].mean())
    else:
        log_ratio, mean_change = 0.0, 0.0
    return ChangeResult(
        region_cells=int(in_region.sum()),
        valid_cells=int(judged.sum()),
        changed_cells=int(changed.sum()),
        mean_change=mean_change,
        texture_log_ratio=log_ratio,
        changed=changed,
        texture_before=tex_a,
        texture_after=tex_b,
    )


@dataclass(frozen=True, slots=True)
class PickupDecision:
    """The judge's verdict on one reach; ``outcome`` is picked / returned / none / undetermined."""

    reach: Reach
    outcome: str
    confidence: float
    decided_pts: float
    details: dict[str, float | int | str | None]


@dataclass(slots=True)
class _View:
    pts: float
    gray: npt.NDArray[np.uint8]
    occluded: npt.NDArray[np.bool_]


@dataclass(slots=True)
class _Pending:
    reach: Reach
    befores: list[_View]
    region: npt.NDArray[np.bool_] | None = None
    best_after: tuple[float, _View, _View] | None = None  # (valid fraction, before, after)
    carry: list[bool] = field(default_factory=list)


def _reach_region(reach: Reach, region: ShelfRegion, scale: float) -> npt.NDArray[np.bool_]:
    """In-polygon pixels within ``scale`` box heights of the hand's path."""
    x0, y0, _, _ = region.rect
    out = np.zeros(region.shape, np.uint8)
    radius = max(2, round(scale * max(reach.box_height, 1.0)))
    pts = np.array([(x - x0, y - y0) for _, x, y in reach.path], dtype=np.float64)
    if len(pts) == 0:
        return out.astype(bool)
    for x, y in np.round(pts).astype(np.int32):
        cv2.circle(out, (int(x), int(y)), radius, 1, thickness=-1)
    return np.asarray(out.astype(bool) & region.mask)


class PickupJudge:
    """Keeps a short history of grey shelf crops and judges each finished reach.

    Per frame call :meth:`observe` with the crops and person masks of every shelf, then
    :meth:`reach_started` / :meth:`reach_ended` for the reach tracker's output, then :meth:`step`.
    """

    def __init__(self, regions: Mapping[str, ShelfRegion], cfg: PickupConfig) -> None:
        self.regions = dict(regions)
        self.cfg = cfg
        self._history: dict[str, deque[_View]] = {zid: deque() for zid in self.regions}
        self._befores: dict[tuple[int, str, str], list[_View]] = {}
        self._pending: list[_Pending] = []
        self.references: dict[str, ShelfState] = {}

    def observe(
        self, pts: float, grays: Mapping[str, npt.NDArray[np.uint8]], occluded: Mapping[str, npt.NDArray[np.bool_]]
    ) -> None:
        for zid, gray in grays.items():
            hist = self._history[zid]
            hist.append(_View(pts, gray, occluded[zid]))
            while hist and pts - hist[0].pts > self.cfg.history_s:
                hist.popleft()

    def reach_started(self, start: ReachStart) -> None:
        hist = self._history.get(start.zone_id, deque())
        before = [v for v in hist if v.pts < start.start_pts]
        self._befores[(start.subject, start.zone_id, start.side)] = before[-_BEFORE_CANDIDATES:]

    def reach_ended(self, reach: Reach) -> None:
        befores = self._befores.pop((reach.subject, reach.zone_id, reach.side), [])
        self._pending.append(_Pending(reach=reach, befores=befores))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def step(
        self,
        pts: float,
        grays: Mapping[str, npt.NDArray[np.uint8]],
        occluded: Mapping[str, npt.NDArray[np.bool_]],
        hands: Mapping[int, tuple[HandObservations, int]] | None = None,
    ) -> list[PickupDecision]:
        """Try to decide pending reaches with this frame as the 'after' view. ``hands`` maps a
        subject to (this frame's hand observations, its row) for the carry cue."""
        out: list[PickupDecision] = []
        keep: list[_Pending] = []
        for p in self._pending:
            r = p.reach
            since = pts - r.end_pts
            if hands is not None and r.subject in hands and since <= _CARRY_WINDOW_S:
                obs, row = hands[r.subject]
                h = HAND_NAMES.index(r.side)
                if obs.known[row, h]:
                    held = (not obs.extended[row, h]) and obs.xy[row, h, 1] < obs.shoulder_y[row] + 0.8 * obs.torso[row]
                    p.carry.append(bool(held))
            region = self.regions[r.zone_id]
            if p.region is None:
                p.region = _reach_region(r, region, self.cfg.region_scale)
            if not p.befores or not p.region.any():
                out.append(self._decision(p, None, pts, "no clean view before the reach"))
                continue
            gray, occ = grays.get(r.zone_id), occluded.get(r.zone_id)
            if gray is not None and occ is not None:
                now = _View(pts, gray, occ)
                total = max(1, int(p.region.sum()))
                for b in p.befores:
                    frac = float((p.region & ~b.occluded & ~occ).sum()) / total
                    if p.best_after is None or frac > p.best_after[0] + 1e-9:
                        p.best_after = (frac, b, now)
            ready = p.best_after is not None and p.best_after[0] >= self.cfg.min_valid_fraction
            if ready and since >= _CARRY_WINDOW_S:
                out.append(self._decision(p, p.best_after, pts, None))
            elif since > self.cfg.max_wait_s:
                out.append(self._decision(p, p.best_after if ready else None, pts, "shelf stayed occluded"))
            else:
                keep.append(p)
        self._pending = keep
        return out

    def close(self, pts: float) -> list[PickupDecision]:
        """Decide every pending reach with the best views seen so far (end of stream)."""
        out = []
        for p in self._pending:
            ready = p.best_after is not None and p.best_after[0] >= self.cfg.min_valid_fraction
            out.append(self._decision(p, p.best_after if ready else None, pts, None if ready else "stream ended"))
        self._pending = []
        self._befores.clear()
        return out

    def _decision(
        self, p: _Pending, views: tuple[float, _View, _View] | None, pts: float, why: str | None
    ) -> PickupDecision:
        r = p.reach
        carry = float(np.mean(p.carry)) if p.carry else None
        if views is None or p.region is None:
            return PickupDecision(r, "undetermined", 0.0, pts, {"reason": why or "no clean view", "carry": carry})
        _frac, before, after = views
        region = self.regions[r.zone_id]
        valid = ~before.occluded & ~after.occluded
        res = compare_views(before.gray, after.gray, p.region, valid, self.cfg.cell_px, self.cfg.change_threshold)
        details: dict[str, float | int | str | None] = {
            "changed_cells": res.changed_cells,
            "valid_cells": res.valid_cells,
            "region_cells": res.region_cells,
            "mean_change": round(res.mean_change, 3),
            "texture_log_ratio": round(res.texture_log_ratio, 3),
            "carry": None if carry is None else round(carry, 2),
            "before_pts": round(before.pts, 3),
            "after_pts": round(after.pts, 3),
        }
        if res.changed_cells < self.cfg.min_changed_cells:
            return PickupDecision(r, "none", 0.0, pts, details)
        direction, basis = self._direction(
            res, self.references.get(region.zone.id), before.gray, after.gray, p.region & valid
        )
        details["direction"] = round(direction, 3)
        details["basis"] = basis
        outcome = "picked" if direction > 0 else "returned"
        s_change = min(1.0, res.mean_change / (2 * self.cfg.change_threshold))
        s_dir = min(1.0, abs(direction) / 0.5)
        conf = s_change * (0.5 + 0.5 * s_dir) * (0.5 + 0.5 * min(1.0, res.valid_fraction))
        if carry is not None:
            lean = (carry - 0.5) if outcome == "picked" else (0.5 - carry)
            conf *= 0.85 + 0.3 * lean
        return PickupDecision(r, outcome, round(max(0.0, min(1.0, conf)), 3), pts, details)

    def _direction(
        self,
        res: ChangeResult,
        state: ShelfState | None,
        before: npt.NDArray[np.uint8],
        after: npt.NDArray[np.uint8],
        valid: npt.NDArray[np.bool_],
    ) -> tuple[float, str]:
        """> 0 means 'something went missing'. Against the stocked reference when it covers most of
        the changed area, else by texture loss between the two views."""
        if state is not None and state.reference_coverage > 0:
            cell = state.cfg.cell_px
            h, w = valid.shape
            px = np.kron(res.changed, np.ones((self.cfg.cell_px, self.cfg.cell_px), bool))[:h, :w]
            px &= valid & state.region.mask
            ta = cell_texture(before, px, cell)
            tb = cell_texture(after, px, cell)
            ref = state.reference
            ok = np.isfinite(ta) & np.isfinite(tb) & np.isfinite(ref) & (np.nan_to_num(ref) > 0)
            covered = float(np.isfinite(ta).sum())
            if ok.sum() > 0 and ok.sum() >= 0.5 * covered:
                eps = 1e-3
                d_before = np.abs(np.log((ta[ok] + eps) / (ref[ok] + eps)))
                d_after = np.abs(np.log((tb[ok] + eps) / (ref[ok] + eps)))
                return float(np.mean(d_after - d_before)), "reference"
        return -res.texture_log_ratio, "texture"
