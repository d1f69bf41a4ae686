"""Store floor plans for the simulator: zones in floor metres, a walking graph, shelves to stand at.

The demo layout is a 24 x 18 m grocery/electronics floor (x to the right, y down as drawn, origin at
the top-left like :class:`~storelens.config.cameras.FloorPlanConfig`)::

    y=0  +-entrance-+------ front aisle ---------+------ checkout (till) ------+
         |  (0-4)   |                            |   x 15-24, y 0-2           |
         +----------+                            +------ queue y 2-4.5 -------+
         | display  |                                                         |
    5.5  +-Seasonal-+--+-----+--+-----+--+-----+--+-----+--+---------+--------+
         | Produce     |#|Coffee|#|Snacks|#|Electr.|#|Household|#| staff    |
         | (tables)    |#|      |#|      |#|       |#|         |#| only     |
    15   +-------------+--------- Bakery (back wall shelves) ---------+ room  |
    18   +------------------------------------------------------------+-------+

``#`` are gondolas (shelf zones, one per face, with the category of the aisle they face). A
layout can also be built from a store config's floor-space zones (:meth:`StoreLayout.from_config`);
there the walking graph joins zone centroids, a coarser approximation documented on that method.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from storelens.config.cameras import CalibrationConfig, CameraConfig, ZoneConfig, ZoneKind
from storelens.config.store import StoreConfig
from storelens.core.geometry import points_in_polygon

__all__ = ["Point", "Spot", "StoreLayout"]

Point = tuple[float, float]

_WALKABLE = {ZoneKind.ENTRANCE, ZoneKind.AISLE, ZoneKind.DISPLAY, ZoneKind.QUEUE, ZoneKind.CHECKOUT, ZoneKind.OTHER}


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a shopper stands to look at and reach into one shelf (or display)."""

    shelf: str
    category: str
    pos: Point


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


@dataclass
class StoreLayout:
    """Zones, a walking graph (nodes + edges, shortest routes precomputed), shelf spots, the
    entrance/exit point, checkout queue slots (front first) and the till."""

    name: str
    width: float
    height: float
    zones: list[ZoneConfig]
    nodes: dict[str, Point]
    edges: list[tuple[str, str]]
    door: Point
    spots: list[Spot]
    queue_entry: Point | None = None
    queue_slots: list[Point] = field(default_factory=list)
    till: Point | None = None
    staff_room: Point | None = None

    def __post_init__(self) -> None:
        self._names = list(self.nodes)
        self._xy = np.array([self.nodes[n] for n in self._names], dtype=np.float64)
        index = {n: i for i, n in enumerate(self._names)}
        rows, cols, w = [], [], []
        for a, b in self.edges:
            if a not in index or b not in index:
                raise ValueError(f"edge {a}-{b} names an unknown node")
            d = math.dist(self.nodes[a], self.nodes[b])
            rows += [index[a], index[b]]
            cols += [index[b], index[a]]
            w += [d, d]
        n = len(self._names)
        graph = csr_matrix((w, (rows, cols)), shape=(n, n))
        self._dist, self._pred = shortest_path(graph, directed=False, return_predecessors=True)
        if not np.isfinite(self._dist).all():
            raise ValueError(f"layout {self.name!r}: the walking graph is not connected")
        self._polys = [(z, np.asarray(z.points, dtype=np.float64)) for z in self.zones]

    # --------------------------------------------------------------------------- queries --
    @property
    def categories(self) -> list[str]:
        return sorted({s.category for s in self.spots})

    def spots_in(self, category: str) -> list[Spot]:
        return [s for s in self.spots if s.category == category]

    def nearest_node(self, p: Point) -> int:
        d = np.hypot(self._xy[:, 0] - p[0], self._xy[:, 1] - p[1])
        return int(np.argmin(d))

    def route(self, a: Point, b: Point) -> list[Point]:
        """Walking route from ``a`` to ``b`` through the graph (both ends included)."""
        ia, ib = self.nearest_node(a), self.nearest_node(b)
        if ia == ib or math.dist(a, b) <= min(math.dist(a, tuple(self._xy[ia])), 1.5):
            return [a, b]
        path = [ib]
        while path[-1] != ia:
            path.append(int(self._pred[ia, path[-1]]))
        path.reverse()
        pts = [tuple(self._xy[i]) for i in path]
        # skip a first/last node that lies behind the start/end (walk straight on instead)
        if len(pts) >= 2 and math.dist(a, pts[1]) < math.dist(pts[0], pts[1]):
            pts = pts[1:]
        if len(pts) >= 2 and math.dist(b, pts[-2]) < math.dist(pts[-1], pts[-2]):
            pts = pts[:-1]
        return [a, *[(float(x), float(y)) for x, y in pts], b]

    def zones_at(self, p: Point) -> list[ZoneConfig]:
        pt = np.array([p], dtype=np.float64)
        return [z for z, poly in self._polys if points_in_polygon(pt, poly)[0]]

    def random_point_in(self, zone: ZoneConfig, rng: np.random.Generator) -> Point:
        poly = np.asarray(zone.points, dtype=np.float64)
        lo, hi = poly.min(axis=0), poly.max(axis=0)
        for _ in range(200):
            p = rng.uniform(lo, hi)
            if points_in_polygon(p.reshape(1, 2), poly)[0]:
                return float(p[0]), float(p[1])
        c = poly.mean(axis=0)
        return float(c[0]), float(c[1])

    def store_config(self, store_id: str = "sim-store", timezone: str = "UTC") -> StoreConfig:
        """A store config with this layout's zones (floor space) and one notional calibrated camera,
        so the simulated store validates like a real one and can be saved as YAML."""
        cam = CameraConfig(
            id="sim",
            source="sim://",
            calibration=CalibrationConfig(
                image_points=[(0, 0), (1000, 0), (1000, 1000), (0, 1000)],
                floor_points=[(0, 0), (self.width, 0), (self.width, self.height), (0, self.height)],
            ),
        )
        return StoreConfig(store_id=store_id, name=self.name, timezone=timezone, cameras=[cam], zones=self.zones)

    # ------------------------------------------------------------------------ factories --
    @classmethod
    def demo(cls) -> StoreLayout:
        """The default 24 x 18 m grocery/electronics floor drawn in the module docstring."""
        zones: list[ZoneConfig] = []

        def zone(zid: str, name: str, kind: ZoneKind, pts: list[Point], category: str | None = None) -> None:
            zones.append(ZoneConfig(id=zid, name=name, kind=kind, space="floor", points=pts, category=category))

        zone("entrance", "Entrance", ZoneKind.ENTRANCE, _rect(0, 0, 4, 2.5))
        zone("display", "Seasonal display", ZoneKind.DISPLAY, _rect(0, 2.5, 4, 5.5), "Seasonal")
        zone(
            "front",
            "Front aisle",
            ZoneKind.AISLE,
            [(4, 0), (15, 0), (15, 4.5), (24, 4.5), (24, 5.5), (4, 5.5)],
        )
        zone("checkout", "Checkout", ZoneKind.CHECKOUT, _rect(15, 0, 24, 2))
        zone("queue", "Checkout queue", ZoneKind.QUEUE, _rect(15, 2, 24, 4.5))
        zone("produce", "Produce", ZoneKind.AISLE, _rect(0, 5.5, 5, 15), "Produce")
        zone("bakery", "Bakery", ZoneKind.AISLE, _rect(0, 15, 22, 18), "Bakery")
        zone("stockroom", "Stockroom", ZoneKind.STAFF_ONLY, _rect(22, 5.5, 24, 18))
        aisles = [("coffee", "Coffee", 7.5), ("snacks", "Snacks", 11.5), ("electronics", "Electronics", 15.5)]
        aisles.append(("household", "Household", 19.5))
        spots: list[Spot] = []
        nodes: dict[str, Point] = {
            "door": (2.0, 0.6),
            "entrance": (2.0, 1.5),
            "display": (2.0, 4.0),
            "fa": (5.5, 1.8),
            "fb": (10.0, 1.6),
            "fp": (4.5, 5.0),
            "p1": (2.5, 7.0),
            "p2": (2.5, 9.5),
            "p3": (2.5, 12.0),
            "p4": (2.5, 14.3),
            "b0": (2.5, 16.3),
            "till": (16.5, 1.0),
            "qentry": (20.0, 4.6),
            "staff_b": (23.0, 16.3),
            "staff": (23.0, 11.0),
        }
        edges: list[tuple[str, str]] = [
            ("door", "entrance"),
            ("entrance", "display"),
            ("entrance", "fa"),
            ("display", "fp"),
            ("fa", "fp"),
            ("fa", "fb"),
            ("fb", "till"),
            ("fp", "p1"),
            ("p1", "p2"),
            ("p2", "p3"),
            ("p3", "p4"),
            ("p4", "b0"),
            ("staff", "staff_b"),
        ]
        prev_front, prev_back = "fp", "b0"
        for k, (aid, cat, xc) in enumerate(aisles):
            zone(aid, cat, ZoneKind.AISLE, _rect(xc - 1.5, 5.5, xc + 1.5, 15), cat)
            # gondola faces: left face is the east half of the gondola west of the aisle
            zone(f"{aid}-l", f"{cat} left shelf", ZoneKind.SHELF, _rect(xc - 2.0, 6.0, xc - 1.5, 14.5), cat)
            zone(f"{aid}-r", f"{cat} right shelf", ZoneKind.SHELF, _rect(xc + 1.5, 6.0, xc + 2.0, 14.5), cat)
            front, back = f"f{k + 1}", f"b{k + 1}"
            nodes[front] = (xc, 5.0)
            nodes[back] = (xc, 16.3)
            edges += [(prev_front, front), (prev_back, back)]
            prev_front, prev_back = front, back
            chain = [front]
            for j, y in enumerate((7.0, 9.0, 11.0, 13.0)):
                nid = f"{aid}{j}"
                nodes[nid] = (xc, y)
                chain.append(nid)
                spots.append(Spot(f"{aid}-l", cat, (xc - 0.9, y)))
                spots.append(Spot(f"{aid}-r", cat, (xc + 0.9, y)))
            chain.append(back)
            edges += list(itertools.pairwise(chain))
        edges += [("f2", "fb"), ("f4", "qentry"), ("f3", "qentry"), (prev_back, "staff_b")]
        zone("produce-wall", "Produce wall shelf", ZoneKind.SHELF, _rect(5.0, 6.0, 5.5, 14.5), "Produce")
        zone("bakery-wall", "Bakery wall shelf", ZoneKind.SHELF, _rect(0.5, 17.5, 21.5, 18.0), "Bakery")
        zone("display-1", "Seasonal display stand", ZoneKind.SHELF, _rect(0.0, 3.0, 0.5, 5.0), "Seasonal")
        for y in (7.0, 9.5, 12.0, 14.0):
            spots.append(Spot("produce-wall", "Produce", (4.4, y)))
        for x in (3.0, 7.0, 11.0, 15.0, 19.0):
            spots.append(Spot("bakery-wall", "Bakery", (x, 17.0)))
        spots.append(Spot("display-1", "Seasonal", (1.2, 4.0)))
        slots = [(16.5 + 0.8 * i, 3.3) for i in range(9)]
        return cls(
            name="storelens demo store",
            width=24.0,
            height=18.0,
            zones=zones,
            nodes=nodes,
            edges=edges,
            door=(2.0, 0.4),
            spots=spots,
            queue_entry=nodes["qentry"],
            queue_slots=slots,
            till=nodes["till"],
            staff_room=nodes["staff"],
        )

    @classmethod
    def from_config(cls, store: StoreConfig) -> StoreLayout:
        """A layout from a store config's floor-space zones.

        Approximation (say so in results): walking routes join the centroids of walkable zones that
        touch or nearly touch (within 1 m), so a route can cut a corner a real aisle would not;
        shelves are the ``shelf`` zones (a shopper stands 0.7 m in front of the face nearest a
        walkable zone), or, without any, points inside category zones. Needs an ``entrance`` zone.
        """
        floor = [z for z in store.zones if z.space == "floor"]
        if not any(z.kind == ZoneKind.ENTRANCE for z in floor):
            raise ValueError("simulating a store config needs a floor-space zone of kind 'entrance'")
        walk = [z for z in floor if z.kind in _WALKABLE]
        polys = {z.id: np.asarray(z.points, dtype=np.float64) for z in floor}
        nodes = {z.id: _centroid(polys[z.id]) for z in walk}
        edges = [
            (a.id, b.id)
            for i, a in enumerate(walk)
            for b in walk[i + 1 :]
            if _poly_distance(polys[a.id], polys[b.id]) <= 1.0
        ]
        allpts = np.vstack(list(polys.values()))
        spots: list[Spot] = []
        for z in floor:
            if z.kind != ZoneKind.SHELF:
                continue
            cat = z.category or z.label
            c = np.asarray(_centroid(polys[z.id]))
            if not walk:
                break
            near = min(walk, key=lambda w: _poly_distance(polys[z.id], polys[w.id]))
            d = np.asarray(nodes[near.id]) - c
            n = float(np.hypot(*d))
            if n < 1e-6:
                continue
            u = d / n
            half = float(((polys[z.id] - c) @ u).max())
            p = c + u * (half + 0.7)
            spots.append(Spot(z.id, cat, (float(p[0]), float(p[1]))))
        if not spots:
            for z in walk:
                if z.category:
                    poly = polys[z.id]
                    lo, hi = poly.min(axis=0), poly.max(axis=0)
                    for fx, fy in ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)):
                        p = (float(lo[0] + fx * (hi[0] - lo[0])), float(lo[1] + fy * (hi[1] - lo[1])))
                        if points_in_polygon(np.array([p]), poly)[0]:
                            spots.append(Spot(z.id, z.category, p))
        if not spots:
            raise ValueError("the store config has no shelf zones and no category zones to shop in")
        entrance = next(z for z in walk if z.kind == ZoneKind.ENTRANCE)
        queue = next((z for z in walk if z.kind == ZoneKind.QUEUE), None)
        till = next((z for z in walk if z.kind == ZoneKind.CHECKOUT), None)
        staff = next((z for z in floor if z.kind == ZoneKind.STAFF_ONLY), None)
        slots: list[Point] = []
        if queue is not None:
            qp = polys[queue.id]
            lo, hi = qp.min(axis=0), qp.max(axis=0)
            horizontal = hi[0] - lo[0] >= hi[1] - lo[1]
            n_slots = max(int((hi[0] - lo[0] if horizontal else hi[1] - lo[1]) / 0.8), 1)
            tc = np.asarray(_centroid(polys[till.id])) if till is not None else lo
            for i in range(n_slots):
                f = (i + 0.5) / n_slots
                p = (
                    (lo[0] + f * (hi[0] - lo[0]), (lo[1] + hi[1]) / 2)
                    if horizontal
                    else ((lo[0] + hi[0]) / 2, lo[1] + f * (hi[1] - lo[1]))
                )
                slots.append((float(p[0]), float(p[1])))
            slots.sort(key=lambda s: math.dist(s, (float(tc[0]), float(tc[1]))))
        return cls(
            name=store.name or store.store_id,
            width=float(allpts[:, 0].max()),
            height=float(allpts[:, 1].max()),
            zones=floor,
            nodes=nodes,
            edges=edges,
            door=nodes[entrance.id],
            spots=spots,
            queue_entry=nodes[queue.id] if queue is not None else None,
            queue_slots=slots,
            till=nodes[till.id] if till is not None else None,
            staff_room=_centroid(polys[staff.id]) if staff is not None else None,
        )


def _centroid(poly: npt.NDArray[np.float64]) -> Point:
    c = poly.mean(axis=0)
    return float(c[0]), float(c[1])


def _seg_point_distance(p: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    ab = b - a
    denom = float(ab @ ab)
    t = 0.0 if denom == 0 else float(np.clip((p - a) @ ab / denom, 0.0, 1.0))
    return float(np.hypot(*(a + t * ab - p)))


def _poly_distance(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
    """Smallest distance between two polygons (0 when they overlap)."""
    if points_in_polygon(p, q).any() or points_in_polygon(q, p).any():
        return 0.0
    best = math.inf
    for poly_a, poly_b in ((p, q), (q, p)):
        for v in poly_a:
            for i in range(len(poly_b)):
                best = min(best, _seg_point_distance(v, poly_b[i], poly_b[(i + 1) % len(poly_b)]))
    return best
