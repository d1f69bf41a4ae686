"""The frame redactor and media redaction: only RedactedFrame objects can be written, masks are
filled, overlapping face boxes count once, bad input is refused without touching anything."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from storelens.config.detection import DetectorConfig
from storelens.core.types import Detections
from storelens.privacy.frames import FrameRedactor, RedactedFrame, merge_boxes
from storelens.privacy.media import MediaError, RedactedWriter, redact_media
from storelens.vision.detector import YoloDetector

MASK = [(10.0, 10.0), (60.0, 10.0), (60.0, 40.0), (10.0, 40.0)]


def textured(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def yolo() -> YoloDetector:
    return YoloDetector(DetectorConfig(threads=1, device="cpu"))


def no_people() -> Detections:
    return Detections.empty(with_keypoints=True)


def test_merge_boxes_counts_one_face_per_overlap_group() -> None:
    boxes = np.array([[10, 10, 30, 30], [12, 11, 31, 29], [100, 100, 120, 120]], np.float32)
    merged = merge_boxes(boxes)
    assert len(merged) == 2
    assert [10, 10, 31, 30] in merged.round().tolist()
    assert len(merge_boxes(np.zeros((0, 4), np.float32))) == 0


def test_redactor_fills_masks_blurs_people_and_counts() -> None:
    red = FrameRedactor(masks=[MASK])
    img = textured()
    people = Detections(
        xyxy=np.array([[70, 20, 110, 90]], np.float32),
        score=np.array([0.9], np.float32),
        class_id=np.zeros(1, np.int32),
    )
    out = red(img, people)
    assert isinstance(out, RedactedFrame) and out.people == 1 and out.faces == 0
    assert (out.image[12:38, 12:58] == 0).all()
    top = slice(20, 20 + int(0.3 * 70))
    assert (
        np.abs(np.diff(out.image[top, 72:108].astype(float), axis=1)).mean()
        < 0.25 * np.abs(np.diff(img[top, 72:108].astype(float), axis=1)).mean()
    )
    assert red.frames == 1 and red.people == 1
    assert out.to_jpeg()[:3] == b"\xff\xd8\xff"


def test_redactor_needs_a_way_to_find_heads() -> None:
    with pytest.raises(ValueError, match="no person detector"):
        FrameRedactor()(textured())
    with pytest.raises(ValueError, match="uint8 BGR"):
        FrameRedactor()(np.zeros((4, 4), np.uint8), no_people())


def test_writer_accepts_only_redacted_frames(tmp_path: Path) -> None:
    with RedactedWriter(tmp_path / "x.mp4", 10) as w, pytest.raises(TypeError, match="RedactedFrame"):
        w.write(textured())  # type: ignore[arg-type]
    with pytest.raises(MediaError, match="unsupported output"):
        RedactedWriter(tmp_path / "x.txt", 10)


def write_clip(path: Path, frames: int = 4) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=5)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(textured(seed=i), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_redact_media_writes_every_frame_masked(tmp_path: Path, suffix: str, yolo: YoloDetector) -> None:
    src = tmp_path / "in.mp4"
    write_clip(src)
    red = FrameRedactor(person_detector=yolo, masks=[MASK])
    out = tmp_path / f"out{suffix}"
    stats = redact_media(src, out, red)
    assert stats.frames == 4 and out.is_file()
    assert not list(tmp_path.glob(".partial-*"))
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == 4
    assert all(f[15:35, 15:55].mean() < 25 for f in frames)  # the mask survives encoding


def test_redact_media_refuses_bad_paths_and_keeps_the_input(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    write_clip(src, 2)
    before = src.read_bytes()
    red = FrameRedactor()
    with pytest.raises(MediaError, match="must differ"):
        redact_media(src, src, red)
    with pytest.raises(MediaError, match="not found"):
        redact_media(tmp_path / "missing.mp4", tmp_path / "o.mp4", red)
    (tmp_path / "exists.mp4").write_bytes(b"keep me")
    with pytest.raises(MediaError, match="exists"):
        redact_media(src, tmp_path / "exists.mp4", red)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(MediaError, match="cannot read"):
        redact_media(broken, tmp_path / "o2.mp4", red)
    assert src.read_bytes() == before and (tmp_path / "exists.mp4").read_bytes() == b"keep me"
    assert not (tmp_path / "o2.mp4").exists()


def test_image_in_image_out(tmp_path: Path, yolo: YoloDetector) -> None:
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), textured())
    red = FrameRedactor(person_detector=yolo, masks=[MASK])
    stats = redact_media(src, tmp_path / "out.png", red)
    out = cv2.imread(str(tmp_path / "out.png"))
    assert stats.frames == 1 and (out[12:38, 12:58] == 0).all()


def test_masks_stay_solid_next_to_a_blurred_head_and_overlapping_masks_have_no_holes() -> None:
    img = textured(120, 120)
    people = Detections(
        xyxy=np.array([[20, 10, 80, 110]], np.float32),
        score=np.array([0.9], np.float32),
        class_id=np.zeros(1, np.int32),
    )
    masks = [[(0, 0), (50, 0), (50, 50), (0, 50)], [(20, 20), (70, 20), (70, 70), (20, 70)]]
    out = FrameRedactor(masks=masks)(img, people).image
    assert (out[0:50, 0:50] == 0).all() and (out[20:70, 20:70] == 0).all()
