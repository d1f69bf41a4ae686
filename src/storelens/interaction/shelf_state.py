"""Shelf appearance: crops, person masks, per-cell texture, and the empty-area estimate.

A stocked shelf is busy (edges of products, labels, packaging); an empty stretch of shelf is the
plain shelf back. So emptiness is measured per grid cell as *texture*: the mean gradient magnitude
divided by the mean intensity. Dividing by the intensity makes it blind to lighting changes that
scale the image (store lights dimming, camera auto-exposure), which is the drift a shelf camera
sees all day. A cell is empty when its texture fell below ``empty_texture_ratio`` of the texture
the same cell had in the *reference* ("stocked") view.

People are the other thing a shelf camera sees all day. Every person's box and their keypoint hull
(grown by a margin, so arms reaching outside the box are covered) are masked out; cells that are
mostly masked are simply not judged in that frame. The reference is captured per cell from views
where the cell is unoccluded: the first clean view of the shelf fills it, later views fill the
cells still missing for ``REFERENCE_FILL_S``, and :meth:`ShelfState.request_reference` (after a
restock, say) starts over.

Images never leave memory: only per-cell numbers are kept between frames, plus a few grey crops of
the shelf (no people: they are masked) in the pick-up judge's short history.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.cameras import ZoneConfig
from storelens.config.interaction import InventoryConfig
from storelens.core.types import NUM_KEYPOINTS

__all__ = [
    "REFERENCE_FILL_S",
    "CellStats",
    "ShelfEstimate",
    "ShelfRegion",
    "ShelfState",
    "cell_stats",
    "cell_texture",
]

REFERENCE_FILL_S = 60.0
"""After a reference capture starts, cells still missing (occluded) are filled from later clean
views for this long; after that the reference is frozen so a shelf emptying later is not learnt
as 'stocked'."""

_MIN_CELL_REGION = 0.3
"""Cells with less of their area inside the polygon are ignored (edge slivers)."""
_MIN_CELL_VALID = 0.6
"""A cell is judged only when this share of its in-polygon pixels is unoccluded."""
_KEYPOINT_HULL_MIN = 4
_SATURATED = 250
"""Grey levels at or above this are clipped white: they carry no texture to compare (a brighter
view saturates white packaging), so they are left out like occluded pixels."""


class ShelfRegion:
    """A shelf zone's bounding rectangle in the image, its polygon mask and the person masks.

    ``image_shape`` is (height, width) of the frames; a polygon entirely outside is an error (a
    zone drawn for another resolution), a polygon partly outside is clipped.
    """

    def __init__(self, zone: ZoneConfig, image_shape: tuple[int, int]) -> None:
        h, w = image_shape
        poly = np.asarray(zone.points, dtype=np.float64)
        x0 = max(0, int(np.floor(poly[:, 0].min())))
        y0 = max(0, int(np.floor(poly[:, 1].min())))
        x1 = min(w, int(np.ceil(poly[:, 0].max())) + 1)
        y1 = min(h, int(np.ceil(poly[:, 1].max())) + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise ValueError(
                f"zone {zone.id!r} lies outside the {w}x{h} image (points {zone.points[:4]}...): "
                "was it drawn on frames of another size?"
            )
        self.zone = zone
        self.image_shape = (h, w)
        self.rect = (x0, y0, x1, y1)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(poly - [x0, y0]).astype(np.int32)], 1)
        self.mask: npt.NDArray[np.bool_] = mask.astype(bool)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape[0], self.mask.shape[1]

    def gray(self, image_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The shelf crop in grey, lightly blurred (GIF dithering and sensor noise are not texture)."""
        x0, y0, x1, y1 = self.rect
        crop = cv2.cvtColor(np.ascontiguousarray(image_bgr[y0:y1, x0:x1]), cv2.COLOR_BGR2GRAY)
        return np.asarray(cv2.GaussianBlur(crop, (3, 3), 0.8), dtype=np.uint8)

    def occluded(
        self,
        boxes: npt.ArrayLike,
        keypoints: npt.ArrayLike | None,
        margin: float,
        min_visibility: float = 0.5,
    ) -> npt.NDArray[np.bool_]:
        """Pixels of the crop covered by any person: their box, and the hull of their visible
        keypoints, both grown by ``margin`` x box height."""
        x0, y0, x1, y1 = self.rect
        out = np.zeros((y1 - y0, x1 - x0), np.uint8)
        bxs = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        kps = None if keypoints is None else np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
        for i, b in enumerate(bxs):
            if not np.isfinite(b).all():
                continue
            grow = margin * max(1.0, b[3] - b[1])
            bx0, by0 = int(np.floor(b[0] - grow - x0)), int(np.floor(b[1] - grow - y0))
            bx1, by1 = int(np.ceil(b[2] + grow - x0)), int(np.ceil(b[3] + grow - y0))
            cv2.rectangle(out, (bx0, by0), (bx1, by1), 1, thickness=-1)
            if kps is None:
                continue
            k = kps[i]
            ok = np.isfinite(k).all(axis=1) & (k[:, 2] >= min_visibility)
            if ok.sum() >= _KEYPOINT_HULL_MIN:
                pts = np.round(k[ok, :2] - [x0, y0]).astype(np.int32)
                hull = cv2.convexHull(pts)
                cv2.fillConvexPoly(out, hull, 1)
                cv2.polylines(out, [hull], True, 1, thickness=max(1, round(2 * grow)))
        return out.astype(bool)


@dataclass(frozen=True, slots=True)
class CellStats:
    """Per grid cell sums over the valid pixels of one or two crops (see :func:`cell_stats`)."""

    n: npt.NDArray[np.float64]  # valid pixels
    region: npt.NDArray[np.float64]  # in-polygon pixels
    cell_area: int

    @property
    def judged(self) -> npt.NDArray[np.bool_]:
        """Cells mostly inside the polygon and mostly unoccluded."""
        in_poly = self.region >= _MIN_CELL_REGION * self.cell_area
        return np.asarray(in_poly & (self.n >= _MIN_CELL_VALID * np.maximum(self.region, 1)))


def _cell_sum(a: npt.NDArray[np.float64], cell: int) -> npt.NDArray[np.float64]:
    h, w = a.shape
    gh, gw = -(-h // cell), -(-w // cell)
    pad = np.zeros((gh * cell, gw * cell))
    pad[:h, :w] = a
    return np.asarray(pad.reshape(gh, cell, gw, cell).sum(axis=(1, 3)))


def cell_stats(region: npt.NDArray[np.bool_], valid: npt.NDArray[np.bool_], cell: int) -> CellStats:
    return CellStats(
        n=_cell_sum(valid.astype(np.float64), cell),
        region=_cell_sum(region.astype(np.float64), cell),
        cell_area=cell * cell,
    )


def _gradient(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(cv2.magnitude(gx, gy), dtype=np.float64)


def cell_texture(gray: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_], cell: int) -> npt.NDArray[np.float64]:
    """Per cell: mean gradient magnitude / (mean intensity + 1) over the valid pixels (NaN where
    none). The Sobel kernel sums 8 differences, so flat dithering noise gives ~0.01-0.02 and a
    stocked shelf several times that."""
    v = valid.astype(np.float64)
    grad = _cell_sum(_gradient(gray) * v, cell)
    inten = _cell_sum(gray.astype(np.float64) * v, cell)
    n = _cell_sum(v, cell)
    with np.errstate(invalid="ignore", divide="ignore"):
        tex = (grad / n) / (inten / n + 1.0)
    return np.asarray(np.where(n > 0, tex, np.nan))


@dataclass(frozen=True, slots=True)
class ShelfEstimate:
    """One empty-area estimate of a shelf."""

    zone_id: str
    pts: float
    empty_fraction: float
    judged_cells: int
    empty_cells: int
    occluded_fraction: float
    reference_coverage: float


class ShelfState:
    """Reference ("stocked") texture per cell and the periodic empty-area estimate of one shelf."""

    def __init__(self, region: ShelfRegion, cfg: InventoryConfig) -> None:
        self.region = region
        self.cfg = cfg
        stats = cell_stats(region.mask, region.mask, cfg.cell_px)
        self._in_poly = stats.region >= _MIN_CELL_REGION * stats.cell_area
        self.reference: npt.NDArray[np.float64] = np.full(stats.n.shape, np.nan)
        self._reference_started: float | None = None
        self._last_estimate_pts: float | None = None
        self.last_estimate: ShelfEstimate | None = None

    @property
    def reference_coverage(self) -> float:
        """Share of the shelf's cells that have a reference texture."""
        total = int(self._in_poly.sum())
        return float(np.isfinite(self.reference[self._in_poly]).sum() / total) if total else 0.0

    def request_reference(self) -> None:
        """Forget the reference; the next clean views capture a new one (e.g. after a restock)."""
        self.reference[:] = np.nan
        self._reference_started = None
        self._last_estimate_pts = None
        self.last_estimate = None

    def occluded_fraction(self, occluded: npt.NDArray[np.bool_]) -> float:
        inside = int(self.region.mask.sum())
        return float((occluded & self.region.mask).sum() / inside) if inside else 1.0

    def capture(self, gray: npt.NDArray[np.uint8], occluded: npt.NDArray[np.bool_], pts: float) -> int:
        """Fill missing reference cells from this view where unoccluded; returns cells filled."""
        valid = self.region.mask & ~occluded & (gray < _SATURATED)
        stats = cell_stats(self.region.mask, valid, self.cfg.cell_px)
        tex = cell_texture(gray, valid, self.cfg.cell_px)
        fill = stats.judged & ~np.isfinite(self.reference) & np.isfinite(tex)
        self.reference[fill] = tex[fill]
        if self._reference_started is None and fill.any():
            self._reference_started = pts
        return int(fill.sum())

    def update(self, gray: npt.NDArray[np.uint8], occluded: npt.NDArray[np.bool_], pts: float) -> ShelfEstimate | None:
        """Capture/extend the reference while allowed, then estimate emptiness every
        ``interval_s`` when the shelf is clear enough. Returns the estimate made now, if any."""
        occ_frac = self.occluded_fraction(occluded)
        clear = occ_frac <= self.cfg.max_occluded_fraction
        filling = self._reference_started is None or pts - self._reference_started <= REFERENCE_FILL_S
        if filling and (clear or self._reference_started is not None) and self.reference_coverage < 1.0:
            self.capture(gray, occluded, pts)
        if self._reference_started is None or not clear:
            return None
        if self._last_estimate_pts is not None and pts - self._last_estimate_pts < self.cfg.interval_s:
            return None
        est = self.estimate(gray, occluded, pts)
        if est is not None:
            self._last_estimate_pts = pts
            self.last_estimate = est
        return est

    def estimate(
        self, gray: npt.NDArray[np.uint8], occluded: npt.NDArray[np.bool_], pts: float
    ) -> ShelfEstimate | None:
        """Empty fraction now: judged cells (stocked in the reference, unoccluded now) whose texture
        fell below ``empty_texture_ratio`` of the reference. None when no cell can be judged."""
        valid = self.region.mask & ~occluded & (gray < _SATURATED)
        stats = cell_stats(self.region.mask, valid, self.cfg.cell_px)
        tex = cell_texture(gray, valid, self.cfg.cell_px)
        ref = self.reference
        judged = stats.judged & np.isfinite(ref) & (np.nan_to_num(ref) >= self.cfg.min_reference_texture)
        judged &= np.isfinite(tex)
        n = int(judged.sum())
        if n == 0:
            return None
        empty = judged & (np.nan_to_num(tex) < self.cfg.empty_texture_ratio * np.nan_to_num(ref))
        return ShelfEstimate(
            zone_id=self.region.zone.id,
            pts=pts,
            empty_fraction=float(empty.sum() / n),
            judged_cells=n,
            empty_cells=int(empty.sum()),
            occluded_fraction=self.occluded_fraction(occluded),
            reference_coverage=self.reference_coverage,
        )
