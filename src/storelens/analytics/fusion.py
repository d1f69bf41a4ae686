"""Multi-camera fusion on the floor: where two cameras overlap, one shopper is one subject.

Each camera's tracker numbers its own people; two cameras covering the same aisle would double
every count and every heat-map cell. Once both are calibrated, their sightings share floor
coordinates, and the same person appears at (almost) the same floor point at the same time. The
fusion links each (camera, subject) to a store-level subject:

* a (camera, subject) seen before keeps its store subject (so fusion is stable over time);
* a new one joins the nearest store subject currently seen by *another* camera within
  ``max_distance_m`` (optimal assignment, not greedy, so two people side by side are not swapped),
  and never one its own camera already sees (one camera never sees one person twice);
* else it may be a shopper no camera sees right now, picked up again (``handoff_s``): the next
  camera across a gap between views, or the same camera after its tracker lost and renumbered
  them. It joins the store subject lost at most ``handoff_s`` ago whose last point it could have
  walked from (within ``max_distance_m`` + ``handoff_speed_mps`` x the time unseen), nearest to
  where that subject was heading (last point + its velocity x time unseen), optimal assignment
  again. A subject lost inside an exit area (``exits``: the entrance zones) has left the store: the
  next person walking in there is a new visit, unless colours are known and plainly the same
  within a moment (``EXIT_SIMILARITY``, ``EXIT_REJOIN_S``: a shopper hidden at the door; without
  colours such a shopper is a new visit, the price of not merging leavers with newcomers). A
  subject lost there within ``ARRIVING_S`` of its first sighting was arriving, not leaving: the
  usual gates apply;
* otherwise it starts a new store subject (a random short-lived id);
* members of one store subject that drift more than twice the gate apart are split again.

**Appearance** (when the camera tracks carry ``data["appearance"]``: the clothing-colour stripe
descriptors of :mod:`storelens.tracking.appearance`, 60 numbers, no face, no biometric template):
each store subject keeps a slowly blended colour template in memory, dropped with the subject.
It gates every join (overlap and hand-off: below ``appearance_min`` similarity, not the same
shopper), adds ``appearance_weight_m`` x (1 - similarity) to the hand-off cost, and catches a
camera's identity switch: a linked camera track unlike its store subject's colours for
``switch_s`` is unlinked and joins again as a new sighting (the swapped partner's track does the
same in the same tick, and the tracks freed together trade store subjects by colour, whatever
their subjects' last points: for ``switch_s`` each subject followed the partner). Without descriptors, fusion uses
where and when only. Nothing about a shopper but floor points and that template is kept, and only
while the store subject lives.

The store subject's position is the mean of its members' current floor points. The output is a
:class:`Tracks` whose boxes are zero-size boxes at the floor point (floor-space measures read
``floor_xy``; nothing reads those boxes), with ``visit_id`` = ``track_id`` = the store subject.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from storelens.config.behaviour import FusionConfig
from storelens.core.geometry import points_in_polygon
from storelens.core.types import Tracks
from storelens.tracking.appearance import blend, similarity

__all__ = ["StoreFusion"]

_BIG = 1e9
_TEMPLATE_KEEP = 0.9
"""Weight of a store subject's colour template against each tick's sighting (a long memory: one
frame half behind a shelf must not overwrite it)."""
EXIT_SIMILARITY = 0.93
EXIT_REJOIN_S = 2.0
"""A store subject lost inside an exit area is picked up again only by a sighting within
``EXIT_REJOIN_S`` whose colours match its template at least ``EXIT_SIMILARITY`` (a shopper hidden
for a moment at the door); anyone else walking in there is a new visit."""
ARRIVING_S = 3.0
"""A store subject lost inside an exit area less than this after it was first seen is still
arriving (hidden for a moment as they come through the door: on the tuning seeds such arrivals
were lost 1.2-1.8 s after their first sighting), not leaving: the usual hand-off gates apply to it,
not the door rule. A leaver has been in the store longer than a few seconds; someone who turns
round at the door at once and is replaced there by a newcomer is the price."""
_VELOCITY_WINDOW_S = 1.5
"""A lost subject's heading is its mean velocity over this last stretch (frame-to-frame steps are
mostly feet-point jitter)."""


@dataclass(slots=True)
class _Obs:
    camera: str
    subject: int
    x: float
    y: float
    app: npt.NDArray[np.float32] | None = None


class StoreFusion:
    def __init__(
        self,
        cfg: FusionConfig | None = None,
        *,
        link_ttl_s: float = 30.0,
        seed: int | None = None,
        exits: Sequence[Sequence[tuple[float, float]]] = (),
    ) -> None:
        self.cfg = cfg or FusionConfig()
        self.link_ttl_s = link_ttl_s
        self._latest: dict[
            str, tuple[float, npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float32] | None]
        ] = {}
        self._link: dict[tuple[str, int], int] = {}
        self._link_seen: dict[tuple[str, int], float] = {}
        # store subject -> its recent (wall, x, y), newest last (position, heading, last seen)
        self._hist: dict[int, deque[tuple[float, float, float]]] = {}
        self._app: dict[int, npt.NDArray[np.float32]] = {}  # store subject -> colour template (memory only)
        self._unlike: dict[tuple[str, int], float] = {}  # linked camera track -> since when unlike its subject
        self._born: dict[int, float] = {}  # store subject -> when first seen (the door rule spares arrivals)
        self._exits = [np.asarray(p, dtype=np.float64) for p in exits]
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.handoffs = 0
        """How many sightings were joined to a lost store subject (gap crossings, re-tracked)."""
        self.swaps = 0
        """How many camera tracks the switch rule unlinked and gave back their partner's store subject."""

    def _new_id(self) -> int:
        if self._rng is not None:
            return int(self._rng.integers(1, 2**47))
        return secrets.randbits(47) | 1

    def update(self, camera_id: str, tracks: Tracks, wall_time: float) -> None:
        """Record a camera's latest tracks (they need ``floor_xy``: run its FloorMapper first)."""
        if tracks.floor_xy is None:
            if len(tracks):
                raise ValueError(f"camera {camera_id!r}: tracks have no floor_xy; calibrate the camera")
            xy = np.zeros((0, 2))
        else:
            xy = np.asarray(tracks.floor_xy, dtype=np.float64)
        app = tracks.data.get("appearance")
        desc = None if app is None or not len(tracks) else np.asarray(app, dtype=np.float32).reshape(len(tracks), -1)
        self._latest[camera_id] = (wall_time, np.asarray(tracks.subject_id, dtype=np.int64), xy, desc)

    def _sim(self, o: _Obs, g: int) -> float | None:
        """Colour similarity of a sighting to a store subject's template (None: either unknown)."""
        t = self._app.get(g)
        if o.app is None or t is None or not np.isfinite(o.app).all():
            return None
        return float(similarity(o.app, t)[0, 0])

    def links(self) -> dict[tuple[str, int], int]:
        """(camera, camera subject) -> store subject, for the links still alive."""
        return dict(self._link)

    def _pick_up(self, new: list[_Obs], members: dict[int, list[_Obs]], wall_time: float) -> dict[int, int]:
        """Index in ``new`` -> lost store subject it continues (see the module docstring)."""
        cfg = self.cfg
        lost: list[tuple[int, float, float, float, float, float, bool]] = []  # g, dt, last x, y, predicted x, y, exit
        for g, h in self._hist.items():
            dt = wall_time - h[-1][0]
            if members.get(g) or not 0 < dt <= cfg.handoff_s:
                continue
            t_last, x, y = h[-1]
            arriving = t_last - self._born.get(g, t_last) < ARRIVING_S
            at_exit = not arriving and any(points_in_polygon(np.array([[x, y]]), poly)[0] for poly in self._exits)
            t0, x0, y0 = h[0]
            span = t_last - t0
            vx, vy = ((x - x0) / span, (y - y0) / span) if span > 0.2 else (0.0, 0.0)
            speed = float(np.hypot(vx, vy))
            if speed > cfg.handoff_speed_mps:  # a jittery short history: no faster than the gate
                vx, vy = vx * cfg.handoff_speed_mps / speed, vy * cfg.handoff_speed_mps / speed
            lost.append((g, dt, x, y, x + vx * dt, y + vy * dt, at_exit))
        if not lost:
            return {}
        cost = np.full((len(new), len(lost)), _BIG)
        for i, o in enumerate(new):
            for j, (_, dt, x, y, px, py, at_exit) in enumerate(lost):
                miss = float(np.hypot(o.x - px, o.y - py))
                if np.hypot(o.x - x, o.y - y) <= cfg.max_distance_m + cfg.handoff_speed_mps * dt:
                    sim = self._sim(o, lost[j][0])
                    if at_exit and (sim is None or sim < EXIT_SIMILARITY or dt > EXIT_REJOIN_S):
                        continue  # lost at the door: left, unless it is plainly the same colours at once
                    if sim is None:
                        cost[i, j] = miss
                    elif sim >= cfg.appearance_min:
                        cost[i, j] = miss + cfg.appearance_weight_m * (1.0 - sim)
        rows, cols = linear_sum_assignment(cost)
        return {int(r): lost[int(c)][0] for r, c in zip(rows, cols, strict=True) if cost[r, c] < _BIG}

    def _swap_back(
        self, switched: list[tuple[_Obs, int, float]], members: dict[int, list[_Obs]], wall_time: float
    ) -> list[tuple[_Obs, int]]:
        """Camera tracks unlinked by the switch rule in this tick trade the store subjects they left.

        A tracker's identity switch swaps two nearby people's ids, so for ``switch_s`` each store
        subject followed the other person: its last point is the partner's, and a lost subject at
        the door counts as left. The hand-off gates would then refuse both (too far from the
        subject's last point, or the door rule) and start two new visits. Here the subjects freed
        in this tick by the same camera, with nobody else seeing them, go to the freed sightings by
        colour (at least ``appearance_min``; cost as a hand-off's), within the distance two people
        walking apart at ``handoff_speed_mps`` each could have opened since the switch began."""
        cfg = self.cfg
        pairs: list[tuple[_Obs, int]] = []
        for cam in sorted({o.camera for o, _, _ in switched}):
            mine = [(o, since) for o, _, since in switched if o.camera == cam]
            freed = sorted({g for o, g, _ in switched if o.camera == cam and not members.get(g) and g in self._hist})
            if len(mine) < 2 or not freed:
                continue
            cost = np.full((len(mine), len(freed)), _BIG)
            for i, (o, since) in enumerate(mine):
                for j, g in enumerate(freed):
                    _, x, y = self._hist[g][-1]
                    miss = float(np.hypot(o.x - x, o.y - y))
                    sim = self._sim(o, g)
                    reach = cfg.max_distance_m + 2 * cfg.handoff_speed_mps * (wall_time - since)
                    if sim is not None and sim >= cfg.appearance_min and miss <= reach:
                        cost[i, j] = miss + cfg.appearance_weight_m * (1.0 - sim)
            rows, cols = linear_sum_assignment(cost)
            pairs += [(mine[r][0], freed[c]) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _BIG]
        self.swaps += len(pairs)
        return pairs

    def fused(self, wall_time: float) -> Tracks:
        cfg = self.cfg
        obs: list[_Obs] = []
        for cam, (t, subj, xy, desc) in sorted(self._latest.items()):
            if wall_time - t > cfg.max_age_s:
                continue
            for k in np.flatnonzero(np.isfinite(xy).all(axis=1)).tolist():
                app = desc[k] if desc is not None else None
                obs.append(_Obs(cam, int(subj[k]), float(xy[k, 0]), float(xy[k, 1]), app))
        members: dict[int, list[_Obs]] = {}
        unlinked: list[_Obs] = []
        for o in obs:
            g = self._link.get((o.camera, o.subject))
            if g is None:
                unlinked.append(o)
            else:
                members.setdefault(g, []).append(o)
        # split members that drifted apart: the first camera's sighting keeps the id
        for g, ms in list(members.items()):
            if len(ms) < 2:
                continue
            ref = ms[0]
            keep = [ref]
            for o in ms[1:]:
                if np.hypot(o.x - ref.x, o.y - ref.y) > 2 * cfg.max_distance_m:
                    del self._link[(o.camera, o.subject)]
                    unlinked.append(o)
                else:
                    keep.append(o)
            members[g] = keep
        # a camera track unlike its store subject's colours for switch_s: its tracker swapped ids
        switched: list[tuple[_Obs, int, float]] = []  # (sighting, store subject it left, unlike since)
        for g, ms in list(members.items()):
            keep = []
            for o in ms:
                key = (o.camera, o.subject)
                sim = self._sim(o, g)
                if sim is None or sim >= cfg.appearance_min:
                    self._unlike.pop(key, None)
                    keep.append(o)
                elif wall_time - self._unlike.setdefault(key, wall_time) >= cfg.switch_s:
                    del self._link[key]
                    switched.append((o, g, self._unlike.pop(key)))
                else:
                    keep.append(o)
            members[g] = keep
        for o, g in self._swap_back(switched, members, wall_time):
            self._link[(o.camera, o.subject)] = g
            members[g].append(o)
        unlinked += [o for o, _, _ in switched if (o.camera, o.subject) not in self._link]
        # Camera by camera, so two cameras that both see a new person in the same frame agree:
        # the first creates the store subject, the second joins it.
        for cam in sorted({o.camera for o in unlinked}):
            mine = [o for o in unlinked if o.camera == cam]
            cands = [g for g, ms in members.items() if ms and all(o.camera != cam for o in ms)]
            assigned: dict[int, int] = {}
            if cands:
                cand_pos = np.asarray([np.mean([[o.x, o.y] for o in members[g]], axis=0) for g in cands])
                mine_pos = np.asarray([[o.x, o.y] for o in mine], dtype=np.float64)
                dist = np.hypot(
                    mine_pos[:, None, 0] - cand_pos[None, :, 0], mine_pos[:, None, 1] - cand_pos[None, :, 1]
                )
                cost = np.where(dist <= cfg.max_distance_m, dist, _BIG)
                for i, o in enumerate(mine):
                    for j, g in enumerate(cands):
                        sim = self._sim(o, g)
                        if sim is not None and sim < cfg.appearance_min:
                            cost[i, j] = _BIG
                rows, cols = linear_sum_assignment(cost)
                assigned = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _BIG}
            rest = [i for i in range(len(mine)) if i not in assigned]
            picked = self._pick_up([mine[i] for i in rest], members, wall_time) if rest else {}
            for i, o in enumerate(mine):
                if i in assigned:
                    g = cands[assigned[i]]
                elif i in rest and rest.index(i) in picked:
                    g = picked[rest.index(i)]
                    self.handoffs += 1
                else:
                    g = self._new_id()
                self._link[(o.camera, o.subject)] = g
                members.setdefault(g, []).append(o)
        for o in obs:
            self._link_seen[(o.camera, o.subject)] = wall_time
        for key in [k for k, t in self._link_seen.items() if wall_time - t > self.link_ttl_s]:
            self._link_seen.pop(key, None)
            self._link.pop(key, None)
            self._unlike.pop(key, None)
        ids = [g for g, ms in members.items() if ms]
        for g in ids:  # the template learns from the sightings that agree with it
            seen = [o.app for o in members[g] if o.app is not None and (o.camera, o.subject) not in self._unlike]
            seen = [a for a in seen if np.isfinite(a).all()]
            if seen:
                mean = np.asarray(np.stack(seen).mean(axis=0), dtype=np.float32)[None, :]
                tmpl = self._app.get(g)
                self._app[g] = blend(tmpl if tmpl is not None else mean, mean, _TEMPLATE_KEEP)[0]
        if not ids:
            return Tracks.empty().replace(floor_xy=np.zeros((0, 2), np.float32), visit_id=np.zeros(0, np.int64))
        pos = np.asarray([np.mean([[o.x, o.y] for o in members[g]], axis=0) for g in ids], dtype=np.float64)
        for g, (x, y) in zip(ids, pos.tolist(), strict=True):
            self._born.setdefault(g, wall_time)
            h = self._hist.setdefault(g, deque())
            h.append((wall_time, x, y))
            while h[0][0] < wall_time - _VELOCITY_WINDOW_S:
                h.popleft()
        for g in [g for g, h in self._hist.items() if wall_time - h[-1][0] > max(self.cfg.handoff_s, 1.0)]:
            del self._hist[g]
            self._app.pop(g, None)
            self._born.pop(g, None)
        n = len(ids)
        gid = np.asarray(ids, dtype=np.int64)
        return Tracks(
            xyxy=np.concatenate([pos, pos], axis=1).astype(np.float32),
            score=np.ones(n, np.float32),
            class_id=np.zeros(n, np.int32),
            track_id=gid,
            detection_index=np.full(n, -1, np.int32),
            visit_id=gid,
            floor_xy=pos.astype(np.float32),
            data={"cameras": np.asarray([len({o.camera for o in members[g]}) for g in ids], dtype=np.int32)},
        )
