"""Simulated shoppers seen through several calibrated cameras, with store-level ground truth.

The single-camera simulator hands the analytics perfect floor positions of everyone in the store.
A real store has 3-5 cameras: views overlap (one shopper seen twice at once), leave gaps (nobody
sees them for a few steps), each camera's tracker numbers people on its own and loses them behind
a shelf. To measure store fusion against that, each simulated shopper is projected into virtual
cameras: a camera sees a rectangle of floor through a perspective homography (far side narrow at
the top of a 1280x720 image, as a camera on a wall looks down an aisle), and what it reports is
what a camera pipeline reports: person boxes in pixels standing on the projected feet point, with

* the camera's own track ids (a new one each time a shopper walks back into view after more than
  ``REACQUIRE_S`` out of it, and after a fragment),
* feet-point jitter in pixels (``noise.jitter_m`` on the floor at the view's centre, so more in
  metres far from the camera, most along its line of sight), missed frames, occlusions and
  fragments drawn per camera, independently,
* identity switches when two shoppers pass close in one camera,
* a clothing-colour descriptor per row (``data["appearance"]``, the 60-number stripe histograms of
  :mod:`storelens.tracking.appearance`): each shopper's outfit drawn at random (a third of them in
  one common dark outfit, so look-alikes exist), seen through each camera's own colour response
  (``CAMERA_COLOUR_SIGMA``) and, with noise, mixed per frame with ``noise.appearance_noise`` of
  random colour (background, blur, partial occlusion). A simulated outfit, no person's data.

Its calibration (the four footprint corners and their pixels) is a real
:class:`~storelens.config.cameras.CalibrationConfig`, so the floor points come back through the real
:class:`~storelens.analytics.floor.FloorMapper`. Ground truth per frame: every shopper in the store
with their true floor point, and per camera row which shopper it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.cameras import CalibrationConfig, CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from storelens.sim.layout import StoreLayout
from storelens.sim.runner import SimConfig, plan_shoppers
from storelens.sim.scripts import ShopperPlan
from storelens.tracking.appearance import BINS_PER_STRIPE, DESCRIPTOR_DIM, STRIPES

__all__ = ["REACQUIRE_S", "StoreFrame", "VirtualCamera", "camera_frames", "demo_cameras", "store_with_cameras"]

REACQUIRE_S = 1.0
"""Out of a camera's view longer than this and its tracker gives the shopper a new id on return."""
FRAME_W, FRAME_H = 1280, 720
PERSON_WIDTH_M = 0.5
CAMERA_COLOUR_SIGMA = 0.25
"""Log-normal spread of each camera's gain per colour bin (white balance, lighting)."""
_LOOKALIKE_SHARE = 1 / 3


@dataclass(frozen=True, slots=True)
class VirtualCamera:
    """A camera that sees the floor rectangle ``footprint`` = (x0, y0, x1, y1) metres; the y1 edge
    is nearest the camera (bottom of the image)."""

    id: str
    footprint: tuple[float, float, float, float]

    @property
    def floor_corners(self) -> npt.NDArray[np.float64]:
        x0, y0, x1, y1 = self.footprint
        return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=np.float64)

    @property
    def image_corners(self) -> npt.NDArray[np.float64]:
        return np.array([(320, 160), (960, 160), (1240, 700), (40, 700)], dtype=np.float64)

    @property
    def homography(self) -> npt.NDArray[np.float64]:
        """Floor metres -> image pixels."""
        m = cv2.getPerspectiveTransform(self.floor_corners.astype(np.float32), self.image_corners.astype(np.float32))
        return np.asarray(m, dtype=np.float64)

    def calibration(self) -> CalibrationConfig:
        return CalibrationConfig(
            image_points=[(float(x), float(y)) for x, y in self.image_corners],
            floor_points=[(float(x), float(y)) for x, y in self.floor_corners],
        )

    def camera_config(self) -> CameraConfig:
        return CameraConfig(id=self.id, source=f"sim://{self.id}", calibration=self.calibration())

    def sees(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        x0, y0, x1, y1 = self.footprint
        return np.asarray((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))

    def project(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        h = self.homography
        p = np.c_[xy, np.ones(len(xy))] @ h.T
        return np.asarray(p[:, :2] / p[:, 2:3], dtype=np.float64)

    def px_per_m(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Image scale (pixels per floor metre, across the view) at floor points."""
        d = self.project(xy + np.array([0.05, 0.0])) - self.project(xy)
        return np.asarray(np.hypot(d[:, 0], d[:, 1]) / 0.05, dtype=np.float64)

    def area_px_per_m(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """sqrt(pixels per square metre) at floor points: the mean scale of both floor axes (depth
        is foreshortened, so one pixel is more metres along y than along x)."""
        p = self.project(xy)
        dx = self.project(xy + np.array([0.05, 0.0])) - p
        dy = self.project(xy + np.array([0.0, 0.05])) - p
        det = np.abs(dx[:, 0] * dy[:, 1] - dx[:, 1] * dy[:, 0])
        return np.asarray(np.sqrt(det) / 0.05, dtype=np.float64)

    def boxes(self, feet_px: npt.NDArray[np.float64], xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        """Person boxes standing on the feet points (bottom centre = feet, standing proportions)."""
        w = PERSON_WIDTH_M * self.px_per_m(xy)
        h = 2.6 * w
        u, v = feet_px[:, 0], feet_px[:, 1]
        return np.stack([u - w / 2, v - h, u + w / 2, v], axis=1).astype(np.float32)


def demo_cameras() -> list[VirtualCamera]:
    """Four cameras over :meth:`StoreLayout.demo`: the two front views overlap 1 m at x 9.5-10.5, the
    back views overlap the front ones 1 m at y 9-10, and between the two back views there is a
    1.8 m gap (x 12.6-14.4, the gondola between Snacks and Electronics) that shoppers walking the
    back aisle cross unseen."""
    return [
        VirtualCamera("cam-entrance", (0.0, 0.0, 10.5, 10.0)),
        VirtualCamera("cam-tills", (9.5, 0.0, 24.0, 10.0)),
        VirtualCamera("cam-back-west", (0.0, 9.0, 12.6, 18.0)),
        VirtualCamera("cam-back-east", (14.4, 9.0, 24.0, 18.0)),
    ]


def store_with_cameras(
    layout: StoreLayout, cameras: Sequence[VirtualCamera], store_id: str = "sim-store"
) -> StoreConfig:
    """The layout's store config with the virtual cameras (calibrated) instead of the notional one."""
    store = layout.store_config(store_id)
    return store.model_copy(update={"cameras": [c.camera_config() for c in cameras]})


@dataclass(slots=True)
class StoreFrame:
    """One analysed instant: each camera's tracks (pixels, its own ids; ``data['shopper']`` is the
    ground truth behind each row) and every shopper in the store with their true floor point."""

    index: int
    wall: float
    cameras: dict[str, Tracks]
    truth: list[tuple[int, float, float]] = field(default_factory=list)


@dataclass(slots=True)
class _View:
    """One shopper in one camera over the shopper's frames: when seen, and which track segment."""

    visible: npt.NDArray[np.bool_]
    segment: npt.NDArray[np.int64]  # track segment per frame (-1 unseen); a new one = a new track id
    feet_px: npt.NDArray[np.float64]


def _view(
    cam: VirtualCamera,
    xy: npt.NDArray[np.float64],
    cfg: SimConfig,
    rng: np.random.Generator,
) -> _View | None:
    nz = cfg.noise
    inview = cam.sees(xy)
    if not inview.any():
        return None
    n = len(xy)
    visible = inview.copy()
    if nz.miss_prob > 0:
        visible &= rng.random(n) >= nz.miss_prob
    in_min = float(inview.sum()) / cfg.fps / 60.0
    for _ in range(int(rng.poisson(nz.occlusions_per_min * in_min))):
        s = int(rng.choice(np.flatnonzero(inview)))
        visible[s : s + int(rng.uniform(*nz.occlusion_s) * cfg.fps)] = False
    cuts: set[int] = set()
    for _ in range(int(rng.poisson(nz.fragments_per_min * in_min))):
        s = int(rng.choice(np.flatnonzero(inview)))
        gap = int(rng.uniform(*nz.fragment_gap_s) * cfg.fps)
        visible[s : s + gap] = False
        cuts.add(min(s + gap, n - 1))
    segment = np.full(n, -1, dtype=np.int64)
    seg, last_seen = -1, -(10**9)
    reacquire = REACQUIRE_S * cfg.fps
    for k in np.flatnonzero(visible).tolist():
        if k - last_seen > reacquire or k in cuts or any(last_seen < c <= k for c in cuts):
            seg += 1
        segment[k] = seg
        last_seen = k
    feet = cam.project(xy)
    if nz.jitter_m > 0:
        centre = cam.floor_corners.mean(axis=0, keepdims=True)
        sigma_px = nz.jitter_m * float(cam.area_px_per_m(centre)[0])
        feet = feet + rng.normal(0, sigma_px, size=feet.shape)
    return _View(visible, segment, feet)


def camera_frames(
    layout: StoreLayout,
    cfg: SimConfig,
    cameras: Sequence[VirtualCamera],
    plans: Sequence[ShopperPlan] | None = None,
) -> Iterator[StoreFrame]:
    """Frame by frame, what each camera reports and where everyone truly is (seeded: replays)."""
    plans = list(plans) if plans is not None else plan_shoppers(layout, cfg)
    rng = np.random.default_rng([cfg.seed, 7])
    label_rng = np.random.default_rng([cfg.seed, 8])
    colour_rng = np.random.default_rng([cfg.seed, 9])
    gains = {c.id: colour_rng.lognormal(0.0, CAMERA_COLOUR_SIGMA, DESCRIPTOR_DIM) for c in cameras}
    common = _outfit(colour_rng)
    outfits: dict[int, npt.NDArray[np.float64]] = {}
    spans: list[tuple[ShopperPlan, int, int, npt.NDArray[np.float64], dict[str, _View]]] = []
    for plan in plans:
        i0, i1 = math.ceil(plan.traj.start * cfg.fps), math.floor(plan.end * cfg.fps)
        if i1 < i0:
            continue
        xy = plan.traj.sample(np.arange(i0, i1 + 1) / cfg.fps)
        views = {c.id: v for c in cameras if (v := _view(c, xy, cfg, rng)) is not None}
        own = _outfit(colour_rng)
        outfits[plan.shopper] = 0.7 * common + 0.3 * own if colour_rng.random() < _LOOKALIKE_SHARE else own
        spans.append((plan, i0, i1, xy, views))
    spans.sort(key=lambda s: s[1])
    labels: dict[tuple[int, str, int], int] = {}  # (shopper, camera, segment) -> track id
    switched: dict[tuple[str, int, int], float] = {}
    by_cam = {c.id: c for c in cameras}
    n_frames = max((s[2] for s in spans), default=0) + 1
    for fi in range(n_frames):
        active = [s for s in spans if s[1] <= fi <= s[2]]
        truth = [(p.shopper, float(xy[fi - i0, 0]), float(xy[fi - i0, 1])) for p, i0, _, xy, _ in active]
        out: dict[str, Tracks] = {}
        for cid, cam in by_cam.items():
            rows: list[tuple[int, int]] = []  # (shopper, segment)
            true_xy: list[npt.NDArray[np.float64]] = []
            feet_px: list[npt.NDArray[np.float64]] = []
            for p, i0, _, xy, views in active:
                v = views.get(cid)
                if v is not None and v.visible[fi - i0]:
                    rows.append((p.shopper, int(v.segment[fi - i0])))
                    true_xy.append(xy[fi - i0])
                    feet_px.append(v.feet_px[fi - i0])
            keys = [(s, cid, seg) for s, seg in rows]
            for key in keys:
                if key not in labels:
                    labels[key] = int(label_rng.integers(1, 2**47))
            n = len(rows)
            pts = np.array(true_xy, dtype=np.float64).reshape(n, 2)
            if cfg.noise.id_switch_prob > 0 and n > 1:
                _switches(keys, pts, fi, cfg, rng, labels, switched)
            out[cid] = Tracks(
                xyxy=cam.boxes(np.array(feet_px, dtype=np.float64).reshape(n, 2), pts),
                score=np.full(n, 0.9, np.float32),
                class_id=np.zeros(n, np.int32),
                track_id=np.array([labels[k] for k in keys], dtype=np.int64),
                detection_index=np.arange(n, dtype=np.int32),
                data={
                    "shopper": np.array([s for s, _ in rows], dtype=np.int64),
                    "appearance": _seen_colours([outfits[s] for s, _ in rows], gains[cid], cfg, colour_rng),
                },
            )
        yield StoreFrame(fi, cfg.start_wall + fi / cfg.fps, out, truth)


def _outfit(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A random outfit: per body stripe a colour histogram with a few dominant bins."""
    return rng.dirichlet(np.full(BINS_PER_STRIPE, 0.25), size=len(STRIPES)).reshape(-1)


def _seen_colours(
    outfits: Sequence[npt.NDArray[np.float64]],
    gain: npt.NDArray[np.float64],
    cfg: SimConfig,
    rng: np.random.Generator,
) -> npt.NDArray[np.float32]:
    """The descriptors one camera reports for these outfits this frame (sqrt histograms per stripe)."""
    n = len(outfits)
    if n == 0:
        return np.zeros((0, DESCRIPTOR_DIM), np.float32)
    h = np.asarray(outfits, dtype=np.float64) * gain
    a = cfg.noise.appearance_noise
    if a > 0:
        h = h / h.reshape(n, len(STRIPES), -1).sum(axis=2).repeat(BINS_PER_STRIPE, axis=1)
        h = (1 - a) * h + a * rng.dirichlet(np.full(BINS_PER_STRIPE, 0.3), size=n * len(STRIPES)).reshape(n, -1)
    h = h.reshape(n, len(STRIPES), BINS_PER_STRIPE)
    h = h / h.sum(axis=2, keepdims=True)
    return np.sqrt(h).reshape(n, DESCRIPTOR_DIM).astype(np.float32)


def _switches(
    keys: list[tuple[int, str, int]],
    pts: npt.NDArray[np.float64],
    fi: int,
    cfg: SimConfig,
    rng: np.random.Generator,
    labels: dict[tuple[int, str, int], int],
    seen: dict[tuple[str, int, int], float],
) -> None:
    """Two shoppers within ``id_switch_distance_m`` in one camera: with ``id_switch_prob`` per
    close encounter its tracker swaps their ids from here on."""
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    ii, jj = np.nonzero(np.triu(d < cfg.noise.id_switch_distance_m, k=1))
    t = fi / cfg.fps
    for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
        a, b = keys[i][0], keys[j][0]
        key = (keys[i][1], min(a, b), max(a, b))
        if t - seen.get(key, -1e9) < 10.0:
            continue
        seen[key] = t
        if rng.random() < cfg.noise.id_switch_prob:
            labels[keys[i]], labels[keys[j]] = labels[keys[j]], labels[keys[i]]
