"""MedianBackground, MotionRegions and redact(regions=): redaction that does not need the detector.

The backdrop is a real frame of the demo counter clip; a "person" is a textured patch cut from the
demo entrance clip (a real face and shirt) moved across it or left standing in it.
"""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt
import pytest

from storelens.config import load_config
from storelens.pipeline.build import scale_camera_geometry
from storelens.privacy.background import MedianBackground
from storelens.privacy.masks import masks_for
from storelens.privacy.motion import MotionRegions
from storelens.privacy.redact import blur_region, redact
from testdata import DEMO_COUNTER_CLIP, DEMO_ENTRANCE_CLIP, DEMO_STORE

Image = npt.NDArray[np.uint8]


def first_frame(path: object) -> Image:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
    raise AssertionError(f"no frame in {path}")


@pytest.fixture(scope="module")
def backdrop() -> Image:
    return first_frame(DEMO_COUNTER_CLIP)[:240, :320].copy()


@pytest.fixture(scope="module")
def person() -> Image:
    """A 60x40 patch of the entrance clip with a face and shirt in it (high texture)."""
    img = first_frame(DEMO_ENTRANCE_CLIP)
    patch = img[95:155, 205:245].copy()
    assert patch.std() > 15, "the patch must carry texture for the checks to mean anything"
    return patch


def paste(bg: Image, patch: Image, x: int, y: int) -> Image:
    out = bg.copy()
    out[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    return out


def box(x: int, y: int, patch: Image) -> npt.NDArray[np.float32]:
    return np.array([[x, y, x + patch.shape[1], y + patch.shape[0]]], np.float32)


def test_the_median_removes_someone_walking_past_undetected(backdrop: Image, person: Image) -> None:
    bg = MedianBackground()
    for i in range(9):  # walks left to right, never detected
        bg.offer(paste(backdrop, person, 10 + 30 * i, 100), pts=2.0 * i, person_xyxy=None)
    out = bg.render()
    assert out is not None
    diff = np.abs(out.astype(int) - backdrop.astype(int))
    assert diff.max() == 0, "every pixel is background in most samples"
    assert len(bg.lingering()) == 0


def test_someone_who_stays_is_blurred_whole(backdrop: Image, person: Image) -> None:
    bg = MedianBackground()
    for i in range(8):
        bg.offer(paste(backdrop, person, 150, 80), pts=2.0 * i, person_xyxy=box(150, 80, person))
    linger = bg.lingering()
    assert len(linger) == 1
    x1, y1, x2, y2 = linger[0]
    assert x1 <= 150 and y1 <= 80 and x2 >= 190 and y2 >= 140, linger
    median = bg.median()
    assert median is not None
    assert np.array_equal(median[80:140, 150:190], person), "the median keeps a person who stands still"
    out = bg.render()
    assert out is not None
    # the same irreversible blur as a head box, over the whole lingering area
    manual = median.copy()
    blur_region(manual, linger[0])
    assert np.array_equal(out, manual)
    assert np.abs(out[80:140, 150:190].astype(int) - person.astype(int)).mean() > 8
    # and only there: the rest of the backdrop is untouched
    assert np.array_equal(out[:, :100], backdrop[:, :100])


def test_a_few_samples_blur_every_detection(backdrop: Image, person: Image) -> None:
    bg = MedianBackground(min_samples=5)
    bg.offer(paste(backdrop, person, 20, 20), pts=0.0, person_xyxy=box(20, 20, person))
    bg.offer(paste(backdrop, person, 200, 20), pts=2.0, person_xyxy=box(200, 20, person))
    assert len(bg.lingering()) == 2  # each seen in one sample of two: the median cannot remove them


def test_samples_stay_spread_over_a_long_run_in_bounded_memory(backdrop: Image) -> None:
    bg = MedianBackground(max_frames=15, min_interval_s=2.0)
    kept = [t for t in np.arange(0.0, 600.0, 0.5) if bg.offer(backdrop, float(t))]
    assert len(bg) <= 15
    assert kept[:3] == [0.0, 2.0, 4.0]
    times = [s.pts for s in bg._samples]
    assert times[-1] >= 500.0 and times[0] <= 100.0, times  # the whole run, not its first 30 s
    assert bg.wants(0.0) is False


def test_masks_are_filled_in_the_background(backdrop: Image) -> None:
    bg = MedianBackground()
    bg.offer(backdrop, 0.0)
    out = bg.render(masks=[[(10, 10), (60, 10), (60, 50), (10, 50)]])
    assert out is not None
    assert out[12:48, 12:58].max() == 0
    assert backdrop[12:48, 12:58].max() > 0


def test_frame_size_change_is_an_error(backdrop: Image) -> None:
    bg = MedianBackground()
    bg.offer(backdrop, 0.0)
    with pytest.raises(ValueError, match="frame size changed"):
        bg.offer(backdrop[:100], 5.0)


def test_redact_blurs_regions_whole(backdrop: Image, person: Image) -> None:
    img = paste(backdrop, person, 100, 100)
    out = redact(img, np.zeros((0, 4), np.float32), regions=box(100, 100, person))
    assert not np.array_equal(out[100:160, 100:140], person)
    assert np.array_equal(img[100:160, 100:140], person), "the input is never modified"
    assert np.array_equal(out[:90], img[:90])
    manual = img.copy()
    blur_region(manual, box(100, 100, person)[0])
    assert np.array_equal(manual, out)


def test_motion_without_a_detection_is_blurred(backdrop: Image, person: Image) -> None:
    motion = MotionRegions()
    regions = [motion.regions(paste(backdrop, person, 10 + 12 * i, 100)) for i in range(6)]
    h, w = backdrop.shape[:2]
    assert regions[0].tolist() == [[0, 0, w, h]]  # nothing to compare the first frame with: all of it
    last = regions[-1]
    x = 10 + 12 * 5
    covered = ((last[:, 0] <= x) & (last[:, 1] <= 100) & (last[:, 2] >= x + 40) & (last[:, 3] >= 160)).any()
    assert covered, last


def test_motion_inside_a_detection_is_left_to_the_head_boxes(backdrop: Image, person: Image) -> None:
    motion = MotionRegions(hold=1)
    found = []
    walk = np.array([[0, 90, 120, 170]], np.float32)  # one person box covering the whole walk
    for i in range(6):
        found.append(motion.regions(paste(backdrop, person, 10 + 12 * i, 100), walk))
    assert all(len(r) == 0 for r in found[1:]), found


def test_a_static_scene_has_no_motion(backdrop: Image) -> None:
    motion = MotionRegions()
    motion.regions(backdrop)  # the first frame is blurred whole
    assert all(len(motion.regions(backdrop)) == 0 for _ in range(4))


def test_masks_follow_the_downscaled_frame() -> None:
    cfg = load_config(DEMO_STORE)
    data = cfg.model_dump()
    data["privacy"]["masks"] = [{"camera": "counter-cam", "points": [(100, 100), (200, 100), (200, 200)]}]
    store = type(cfg).model_validate(data)
    scaled = scale_camera_geometry(store, "counter-cam", 0.5)
    assert masks_for(scaled, "counter-cam") == [[(50, 50), (100, 50), (100, 100)]]
    assert masks_for(store, "counter-cam") == [[(100, 100), (200, 100), (200, 200)]]


def test_calibration_follows_the_downscaled_frame() -> None:
    cfg = load_config(DEMO_STORE)
    data = cfg.model_dump()
    cam = data["cameras"][0]
    cam["calibration"] = {"image_points": [(0, 400), (1000, 400), (1000, 1000), (0, 1000)],
                          "floor_points": [(0, 0), (5, 0), (5, 4), (0, 4)]}  # fmt: skip
    store = type(cfg).model_validate(data)
    scaled = scale_camera_geometry(store, cam["id"], 0.5)
    cal = scaled.camera(cam["id"]).calibration
    assert cal is not None and cal.image_points == [(0, 200), (500, 200), (500, 500), (0, 500)]
    assert cal.floor_points == [(0, 0), (5, 0), (5, 4), (0, 4)]


def test_somebody_who_stood_a_while_and_left_is_blurred_without_a_detection(backdrop: Image, person: Image) -> None:
    bg = MedianBackground()
    for i in range(10):  # at one place in 6 of 10 samples, never detected: the median shows them
        img = paste(backdrop, person, 150, 80) if i < 6 else backdrop
        bg.offer(img, pts=2.0 * i)
    assert len(bg.lingering()) == 0
    boxes = bg.unstable()
    covered = ((boxes[:, 0] <= 150) & (boxes[:, 1] <= 80) & (boxes[:, 2] >= 190) & (boxes[:, 3] >= 140)).any()
    assert covered, boxes
