"""Constant-velocity Kalman filter over a batch of boxes, driven by real time.

State per track: ``[cx, cy, w, h, vcx, vcy, vw, vh]`` in pixels and pixels per *second*. All tracks
of one camera are predicted together with the same ``dt`` (one frame), so prediction is a handful
of numpy operations on ``(N, 8)`` / ``(N, 8, 8)`` arrays instead of a Python loop per track.

Why seconds and not frames: analysed frame rates vary (fps sampling, dropped or corrupt frames,
RTSP stalls). The process noise is a random walk in position and velocity whose variance grows
*linearly with dt*, so a 0.5 s gap widens the uncertainty ten times more than a 50 ms step instead
of being treated as one ordinary frame. The noise is scaled by the box size (a person near the
camera moves more pixels per second than one far away), which keeps the defaults camera-agnostic.

The default magnitudes reproduce the per-frame noise of ByteTrack / SORT's filter at 30 fps
(position std h/20 and velocity std h/160 per frame), converted to per-second units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

STATE_DIM = 8
MEAS_DIM = 4
_DIAG_POS = np.arange(4)
_DIAG_VEL = np.arange(4, 8)


@dataclass(frozen=True, slots=True)
class KalmanNoise:
    """Noise magnitudes, relative to the box size (w for x/width, h for y/height).

    ``process_pos``: position random walk, std per sqrt(second) (ByteTrack: 1/20 per frame at 30 fps
    = 0.27 per sqrt s). ``process_vel``: velocity random walk, (box sizes / s) per sqrt(second)
    (ByteTrack: 1/160 box per frame per frame at 30 fps ≈ 1.03). ``measurement``: detector box
    noise, std per observation. ``init_pos`` / ``init_vel``: uncertainty of a newborn track.
    """

    process_pos: float = 0.27
    process_vel: float = 1.0
    measurement: float = 0.05
    init_pos: float = 0.1
    init_vel: float = 1.9


def xyxy_to_z(xyxy: F64) -> F64:
    """(N, 4) corner boxes → (N, 4) measurements ``cx, cy, w, h``."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 2:] = b[:, 2:] - b[:, :2]
    out[:, :2] = b[:, :2] + out[:, 2:] / 2
    return out


def z_to_xyxy(z: F64) -> F64:
    """(N, >=4) ``cx, cy, w, h, ...`` → (N, 4) corner boxes (sizes floored at 1 px)."""
    zz = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    half = np.maximum(zz[:, 2:4], 1.0) / 2
    out = np.empty((len(zz), 4))
    out[:, :2] = zz[:, :2] - half
    out[:, 2:] = zz[:, :2] + half
    return out


def _scales(sizes: F64) -> F64:
    """Per-dimension scale (N, 4): width for cx and w, height for cy and h."""
    wh = np.maximum(sizes, 1.0)
    return np.concatenate([wh, wh], axis=1)


class BatchKalman:
    """Stateless maths of the batched filter; the caller owns the ``mean``/``cov`` arrays."""

    def __init__(self, noise: KalmanNoise | None = None) -> None:
        self.noise = noise or KalmanNoise()
        self._q_pos = self.noise.process_pos**2
        self._q_vel = self.noise.process_vel**2

    def initiate(self, z: F64) -> tuple[F64, F64]:
        """New tracks from (N, 4) measurements: zero velocity, size-scaled uncertainty."""
        z = np.asarray(z, dtype=np.float64).reshape(-1, MEAS_DIM)
        n = len(z)
        mean = np.zeros((n, STATE_DIM))
        mean[:, :4] = z
        s = _scales(z[:, 2:4])
        std = np.concatenate([self.noise.init_pos * s, self.noise.init_vel * s], axis=1)
        cov = np.zeros((n, STATE_DIM, STATE_DIM))
        idx = np.arange(STATE_DIM)
        cov[:, idx, idx] = std**2
        return mean, cov

    def predict(self, mean: F64, cov: F64, dt: float | F64) -> tuple[F64, F64]:
        """Advance every track by ``dt`` seconds (a scalar, or one value per track).

        ``dt <= 0`` leaves a track unchanged, so a repeated timestamp is harmless.
        """
        n = len(mean)
        if n == 0:
            return mean.copy(), cov.copy()
        # One dt for every track (the usual case: one frame) stays a Python float: no broadcasting.
        d: float | F64
        if np.ndim(dt) == 0:
            d = max(float(dt), 0.0)
            dv: float | F64 = d
            dd: float | F64 = d
        else:
            d = np.clip(np.asarray(dt, dtype=np.float64).reshape(n), 0.0, None)
            dv, dd = d[:, None], d[:, None, None]
        new_mean = mean.copy()
        new_mean[:, :4] += dv * mean[:, 4:]
        # F P F^T with F = [[I, dt I], [0, I]], blockwise (cheaper than two batched 8x8 matmuls).
        p11, p12 = cov[:, :4, :4], cov[:, :4, 4:]
        p21, p22 = cov[:, 4:, :4], cov[:, 4:, 4:]
        dp22 = dd * p22
        new_cov = np.empty_like(cov)
        new_cov[:, :4, 4:] = p12 + dp22
        new_cov[:, 4:, :4] = p21 + dp22
        new_cov[:, :4, :4] = p11 + dd * (p12 + p21) + dd * dp22
        new_cov[:, 4:, 4:] = p22
        s2 = _scales(mean[:, 2:4]) ** 2 * dv
        new_cov[:, _DIAG_POS, _DIAG_POS] += self._q_pos * s2
        new_cov[:, _DIAG_VEL, _DIAG_VEL] += self._q_vel * s2
        return new_mean, new_cov

    def update(self, mean: F64, cov: F64, z: F64) -> tuple[F64, F64]:
        """Correct (N,) tracks with (N, 4) measurements ``cx, cy, w, h`` (one per track)."""
        n = len(mean)
        if n == 0:
            return mean.copy(), cov.copy()
        z = np.asarray(z, dtype=np.float64).reshape(n, MEAS_DIM)
        r = (self.noise.measurement * _scales(mean[:, 2:4])) ** 2
        s_mat = cov[:, :4, :4].copy()
        s_mat[:, _DIAG_POS, _DIAG_POS] += r
        # K = P H^T S^-1; S is symmetric, so K^T = S^-1 H P.
        k_t = np.linalg.solve(s_mat, cov[:, :4, :])  # (N, 4, 8)
        gain = np.transpose(k_t, (0, 2, 1))  # (N, 8, 4)
        innov = z - mean[:, :4]
        new_mean = mean + np.einsum("nij,nj->ni", gain, innov)
        new_cov = cov - gain @ cov[:, :4, :]
        new_cov = (new_cov + np.transpose(new_cov, (0, 2, 1))) / 2  # keep it symmetric
        return new_mean, new_cov

    def gating_distance(self, mean: F64, cov: F64, z: F64) -> F64:
        """Squared Mahalanobis distance of (M, 4) measurements to each of (N,) tracks: (N, M).

        Position only (cx, cy): a 2-dof chi-square gate (9.21 at 99 %) tells whether a detection is
        plausibly where a lost track has moved to, with the uncertainty its time lost implies.
        """
        n, m = len(mean), len(z)
        if n == 0 or m == 0:
            return np.zeros((n, m))
        r = (self.noise.measurement * _scales(mean[:, 2:4]))[:, :2] ** 2
        s_mat = cov[:, :2, :2].copy()
        s_mat[:, 0, 0] += r[:, 0]
        s_mat[:, 1, 1] += r[:, 1]
        inv = np.linalg.inv(s_mat)  # (N, 2, 2)
        diff = np.asarray(z, dtype=np.float64)[None, :, :2] - mean[:, None, :2]  # (N, M, 2)
        return np.asarray(np.einsum("nmi,nij,nmj->nm", diff, inv, diff))
