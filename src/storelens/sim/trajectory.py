"""Floor trajectories: walking along routes and standing still, as time-stamped key points.

Walking is piecewise linear at the shopper's speed with a small side-to-side gait sway and a slow
speed wobble (people do not walk at a constant 1.2 m/s); standing is a slow random drift around the
spot (weight shifting, a half step), well under a walking speed. Key points every ``step_s``;
:meth:`Trajectory.sample` interpolates them at the analysed frame times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Trajectory"]

Point = tuple[float, float]


class Trajectory:
    """Key points ``(t, x, y)`` in seconds and floor metres, appended in time order."""

    def __init__(self, t0: float, start: Point, rng: np.random.Generator, step_s: float = 0.25) -> None:
        self.rng = rng
        self.step_s = step_s
        self._t: list[float] = [t0]
        self._x: list[float] = [start[0]]
        self._y: list[float] = [start[1]]

    @property
    def t(self) -> float:
        return self._t[-1]

    @property
    def pos(self) -> Point:
        return self._x[-1], self._y[-1]

    def _add(self, t: float, x: float, y: float) -> None:
        if t <= self._t[-1]:
            t = self._t[-1] + 1e-3
        self._t.append(t)
        self._x.append(x)
        self._y.append(y)

    def walk(self, route: Sequence[Point], speed: float) -> float:
        """Walk the polyline from the current position; returns the arrival time."""
        if speed <= 0:
            raise ValueError("walking speed must be positive")
        pts = [self.pos, *route[1:]] if route and math.dist(route[0], self.pos) < 1e-6 else [self.pos, *route]
        phase = self.rng.uniform(0, 2 * math.pi)
        wobble = self.rng.uniform(0, 2 * math.pi)
        t = self.t
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):
            seg = math.hypot(x1 - x0, y1 - y0)
            if seg < 1e-6:
                continue
            ux, uy = (x1 - x0) / seg, (y1 - y0) / seg
            s = 0.0
            while s < seg:
                v = speed * (1.0 + 0.06 * math.sin(wobble + 0.9 * t))
                s = min(s + v * self.step_s, seg)
                t += self.step_s
                sway = 0.03 * math.sin(phase + 2 * math.pi * 0.9 * t)  # ~0.9 Hz stride sway
                self._add(t, x0 + ux * s - uy * sway, y0 + uy * s + ux * sway)
        return self.t

    def stand(self, duration: float, spot: Point | None = None, drift_m: float = 0.05) -> float:
        """Stand (near ``spot`` if given) for ``duration`` seconds with a slow drift."""
        cx, cy = spot if spot is not None else self.pos
        end = self.t + max(duration, 0.0)
        ox, oy = self.pos[0] - cx, self.pos[1] - cy
        t = self.t
        while t + 0.5 <= end:
            t += 0.5
            # Ornstein-Uhlenbeck step: pulled back to the spot, so standing never turns into walking
            ox = 0.8 * ox + self.rng.normal(0, drift_m * 0.6)
            oy = 0.8 * oy + self.rng.normal(0, drift_m * 0.6)
            self._add(t, cx + ox, cy + oy)
        if end > self.t:
            self._add(end, cx + ox, cy + oy)
        return self.t

    def sample(self, times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Positions (N, 2) at the given times (clamped to the trajectory's span)."""
        t = np.asarray(self._t)
        return np.stack([np.interp(times, t, self._x), np.interp(times, t, self._y)], axis=1)

    @property
    def start(self) -> float:
        return self._t[0]
