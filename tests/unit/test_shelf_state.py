"""Shelf change detection and emptiness on real shelf crops from the CC-BY store-aisle clip.

Synthetic edits on a real frame: a person-like occluder (masked by its box) and a lighting change
must NOT read as change or emptiness; painting a stretch of products over with the shelf board's
colour (what a picked-out shelf looks like) must.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from factories import make_tracks
from storelens.config.cameras import ZoneConfig
from storelens.config.interaction import InventoryConfig, PickupConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from storelens.interaction import InteractionStage, PickupJudge, Reach, ShelfRegion, ShelfState, compare_views
from storelens.interaction.reach import ReachStart
from testdata import shared_data_path, shared_video

CLIP = shared_data_path("video", "store-aisle-detection.gif")
# the left shelf unit of the clip: nobody stands in front of it in the whole clip
LEFT_SHELF = [(0.0, 0.0), (70.0, 0.0), (75.0, 60.0), (50.0, 170.0), (0.0, 200.0)]
PRODUCTS = (2, 95, 45, 125)  # x0, y0, x1, y1: bowls and plates between two shelf boards
BIG_GAP = (0, 30, 60, 150)  # several shelf rows emptied
OCCLUDER = (5, 60, 55, 150)
SMALL_OCCLUDER = (45, 20, 70, 80)  # e.g. a shopper's shoulder over one corner of the shelf


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    shared_video(CLIP.name)  # skips without the development data
    import av

    with av.open(str(CLIP)) as container:
        return [f.to_ndarray(format="bgr24") for i, f in zip(range(31), container.decode(video=0), strict=False)]


def board_colour(image: np.ndarray) -> tuple[int, int, int]:
    """The shelf board's colour, sampled from a board edge of the real frame."""
    b, g, r = np.median(image[88:92, 20:30].reshape(-1, 3), axis=0)
    return int(b), int(g), int(r)


def paint(image: np.ndarray, rect: tuple[int, int, int, int], colour: tuple[int, int, int]) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, rect[:2], rect[2:], colour, thickness=-1)
    return out


def scale(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def region() -> ShelfRegion:
    return ShelfRegion(ZoneConfig(id="left", kind="shelf", camera="cam", points=LEFT_SHELF), (270, 480))


def clear(region: ShelfRegion) -> np.ndarray:
    return np.zeros(region.shape, bool)


def change(region: ShelfRegion, before: np.ndarray, after: np.ndarray, boxes: list | None = None):
    occ = region.occluded(np.array(boxes or [], np.float32).reshape(-1, 4), None, 0.08)
    cfg = PickupConfig()
    return compare_views(region.gray(before), region.gray(after), region.mask, ~occ, cfg.cell_px, cfg.change_threshold)


def test_real_frames_seconds_apart_do_not_change(frames, region) -> None:
    for later in (frames[10], frames[30]):
        assert change(region, frames[0], later).changed_cells < PickupConfig().min_changed_cells


@pytest.mark.parametrize("gain", [0.5, 0.7, 1.25, 1.4])
def test_lighting_change_is_not_a_change(frames, region, gain) -> None:
    res = change(region, frames[0], scale(frames[0], gain))
    assert res.changed_cells < PickupConfig().min_changed_cells
    assert res.valid_cells > 30
    state = ShelfState(region, InventoryConfig())
    state.capture(region.gray(frames[0]), clear(region), 0.0)
    est = state.estimate(region.gray(scale(frames[0], gain)), clear(region), 1.0)
    assert est is not None and est.empty_fraction < 0.05


def test_occluder_masked_by_its_box_is_not_a_change(frames, region) -> None:
    occluded = paint(frames[0], OCCLUDER, (70, 60, 50))
    assert change(region, frames[0], occluded, boxes=[OCCLUDER]).changed_cells == 0
    # the same pixels without the person's box would be a large change: the mask is what saves it
    assert change(region, frames[0], occluded).changed_cells > 10


def test_occluder_masked_is_not_empty(frames, region) -> None:
    state = ShelfState(region, InventoryConfig())
    state.capture(region.gray(frames[0]), clear(region), 0.0)
    img = paint(frames[0], OCCLUDER, (70, 60, 50))
    occ = region.occluded(np.array([OCCLUDER], np.float32), None, 0.08)
    masked = state.estimate(region.gray(img), occ, 1.0)
    unmasked = state.estimate(region.gray(img), clear(region), 1.0)
    assert masked is not None and masked.empty_fraction == 0.0
    assert unmasked is not None and unmasked.empty_fraction > 0.1


def test_removal_is_a_change_that_loses_texture(frames, region) -> None:
    removed = paint(frames[0], PRODUCTS, board_colour(frames[0]))
    res = change(region, frames[0], removed)
    assert res.changed_cells >= 4
    assert res.texture_log_ratio < -0.5  # texture lost: products gone
    # and the same edit under a lighting change and an occluder elsewhere is still found
    res2 = change(region, frames[0], paint(scale(removed, 0.8), (50, 0, 70, 40), (60, 60, 60)), boxes=[(48, 0, 72, 42)])
    assert res2.changed_cells >= 4 and res2.texture_log_ratio < -0.5


def test_empty_fraction_of_an_emptied_shelf(frames, region) -> None:
    state = ShelfState(region, InventoryConfig())
    state.capture(region.gray(frames[0]), clear(region), 0.0)
    assert state.reference_coverage > 0.9
    est = state.estimate(region.gray(paint(frames[0], BIG_GAP, board_colour(frames[0]))), clear(region), 1.0)
    assert est is not None and est.empty_fraction > InventoryConfig().empty_alert_fraction
    assert state.estimate(region.gray(frames[30]), clear(region), 2.0).empty_fraction < 0.05


def _reach(path_rect: tuple[int, int, int, int]) -> Reach:
    x0, y0, x1, y1 = path_rect
    path = tuple(
        (2.0 + 0.1 * i, float(x), float(y))
        for i, (x, y) in enumerate([(x0 + 5, y0 + 5), ((x0 + x1) / 2, (y0 + y1) / 2), (x1 - 5, y1 - 5)])
    )
    return Reach(7, "left", "right", 2.0, 2.2, 10.0, 0.2, "wrist", 60.0, 180.0, path)


@pytest.mark.parametrize(
    ("before_edit", "after_edit", "expected"),
    [
        ("stocked", "removed", "picked"),
        ("removed", "stocked", "returned"),
        ("stocked", "stocked_darker_occluded", "none"),
    ],
)
def test_pickup_judge_on_real_crops(frames, region, before_edit, after_edit, expected) -> None:
    colour = board_colour(frames[0])
    views = {
        "stocked": frames[0],
        "removed": paint(frames[0], PRODUCTS, colour),
        "stocked_darker_occluded": paint(scale(frames[30], 0.75), SMALL_OCCLUDER, (70, 60, 50)),
    }
    judge = PickupJudge({"left": region}, PickupConfig())
    state = ShelfState(region, InventoryConfig())
    state.capture(region.gray(frames[0]), clear(region), 0.0)
    judge.references = {"left": state}
    occ_none = {"left": clear(region)}
    for i in range(5):
        judge.observe(1.5 + 0.1 * i, {"left": region.gray(views[before_edit])}, occ_none)
    judge.reach_started(ReachStart(7, "left", "right", 2.0))
    judge.reach_ended(_reach(PRODUCTS))
    after = views[after_edit]
    occ_after = clear(region)
    if "occluded" in after_edit:
        occ_after = region.occluded(np.array([SMALL_OCCLUDER], np.float32), None, 0.08)
    decisions = []
    for i in range(20):
        decisions += judge.step(2.5 + 0.1 * i, {"left": region.gray(after)}, {"left": occ_after})
    assert [d.outcome for d in decisions] == [expected]
    if expected != "none":
        assert 0.3 < decisions[0].confidence <= 1.0
        assert decisions[0].details["basis"] == "reference"


def test_stage_raises_inventory_alert_for_an_emptied_shelf_but_not_for_a_person(frames) -> None:
    store = StoreConfig.model_validate(
        {
            "store_id": "s",
            "cameras": [{"id": "cam", "source": "x"}],
            "zones": [{"id": "left", "kind": "shelf", "camera": "cam", "points": LEFT_SHELF, "category": "mugs"}],
            "interaction": {"inventory": {"interval_s": 0.0}},
        }
    )
    person = make_tracks([OCCLUDER], [1], score=0.9)
    stage = InteractionStage(store, "cam")
    events = stage.update(frames[0], Tracks.empty(), 0.0, 100.0)  # first clean view: reference
    occluded = paint(frames[1], OCCLUDER, (70, 60, 50))
    for i in range(2, 6):
        events += stage.update(occluded, person, 0.1 * i, 100.0 + 0.1 * i)
    assert not [e for e in events if e.type == "inventory.alert"]
    emptied = paint(frames[6], BIG_GAP, board_colour(frames[0]))
    for i in range(6, 9):
        events += stage.update(emptied, Tracks.empty(), 0.1 * i, 100.0 + 0.1 * i)
    alerts = [e for e in events if e.type == "inventory.alert"]
    assert len(alerts) == 1  # once, not every frame
    assert alerts[0].payload["reason"] == "empty_shelf" and alerts[0].zone_id == "left"
    assert stage.stats()["left"].empty_fraction > 0.3
    stage.capture_reference("left")  # restocked (here: the emptied look becomes the reference)
    events = stage.update(emptied, Tracks.empty(), 1.0, 101.0)
    assert [e.payload["empty_fraction"] for e in events if e.type == "shelf.state"] == [0.0]
