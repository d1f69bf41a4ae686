"""The annotated-video writer: every frame submitted reaches the file in order, an encoder failure
surfaces in the caller, only redacted frames are accepted, and the annotator hands it redacted frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from storelens.core.results import FrameResult
from storelens.core.types import Detections, Frame, Tracks
from storelens.output.annotate import Annotator
from storelens.output.video import VideoWriteError, VideoWriter
from storelens.privacy.frames import FrameRedactor, RedactedFrame

W, H, BITS = 128, 96, 8
STRIPE = W // BITS


def numbered(i: int) -> npt.NDArray[np.uint8]:
    """A frame whose eight vertical stripes spell ``i`` in binary (white = 1), readable after H.264."""
    img = np.zeros((H, W, 3), np.uint8)
    for bit in range(BITS):
        if i >> bit & 1:
            img[:, bit * STRIPE : (bit + 1) * STRIPE] = 255
    return img


def number_of(img: npt.NDArray[np.generic]) -> int:
    centre = img[H // 4 : 3 * H // 4]
    return sum(1 << bit for bit in range(BITS) if centre[:, bit * STRIPE + 4 : (bit + 1) * STRIPE - 4].mean() > 128)


def redacted(img: npt.NDArray[np.uint8]) -> RedactedFrame:
    return FrameRedactor()(img, Detections.empty(with_keypoints=True))


def decoded_numbers(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [number_of(f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]


def test_every_frame_is_encoded_in_order_even_when_the_caller_reuses_its_array(tmp_path: Path) -> None:
    n = 60
    path = tmp_path / "sub" / "v.mp4"
    with VideoWriter(path, fps=10, queue_size=2) as w:
        for i in range(n):
            frame = redacted(numbered(i))
            w.write(frame)
            frame.image[:] = 0  # the writer encodes its own copy, taken at write()
        assert w.frames == n
    assert w.encoded == n
    assert decoded_numbers(path) == list(range(n))


def test_an_encoder_failure_surfaces_at_close(tmp_path: Path) -> None:
    path = tmp_path / "taken.mp4"
    path.mkdir()  # a directory where the file should go: opening the output fails on the encoder thread
    w = VideoWriter(path, fps=10)
    w.write(redacted(numbered(1)))  # queued: the failure happens later, on the thread
    with pytest.raises(VideoWriteError, match=r"taken\.mp4 failed finishing the file after 1 frames") as info:
        w.close()
    assert isinstance(info.value.__cause__, OSError)
    w.close()  # reported once; closing again is a no-op


def test_an_encoder_failure_surfaces_at_the_next_write_and_never_blocks_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "taken.mp4"
    path.mkdir()
    w = VideoWriter(path, fps=10, queue_size=2)
    frame = redacted(numbered(2))
    # the file is opened when libx264 hands out its first packet, a few frames in (its lookahead);
    # that frame fails on the thread, and at most four writes later the queue has made the thread
    # move past it, so a write well within 100 raises
    with pytest.raises(VideoWriteError, match=r"taken\.mp4 failed at frame \d+: IsADirectoryError"):
        for _ in range(100):
            w.write(frame)
    assert w.frames < 100
    with pytest.raises(VideoWriteError):
        w.write(frame)  # every later write refuses too
    w.close()  # already reported by write(): close flushes and joins without raising it again
    with pytest.raises(ValueError, match="after close"):
        w.write(frame)


def test_only_redacted_frames_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    with VideoWriter(path, fps=10) as w:
        with pytest.raises(TypeError, match="RedactedFrame"):
            w.write(numbered(3))  # type: ignore[arg-type]
        assert w.frames == 0
    assert not path.exists()  # nothing was encoded, so no file was opened


def test_annotator_returns_a_redacted_frame_with_the_known_faces_blurred() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    before = image.copy()
    result = FrameResult(
        Frame(camera_id="c", index=0, pts=0.0, wall_time=0.0, image=image),
        Detections.empty(with_keypoints=True),
        Tracks.empty(),
        [],
        {},
    )
    face = np.array([[40, 20, 80, 60]], np.float32)
    out = Annotator([]).draw(result, face_xyxy=face)
    assert isinstance(out, RedactedFrame) and out.faces == 1 and out.people == 0
    assert np.array_equal(image, before)  # the raw frame is never drawn on
    texture = np.abs(np.diff(out.image[25:55, 45:75].astype(float), axis=1)).mean()
    assert texture < 0.1 * np.abs(np.diff(before[25:55, 45:75].astype(float), axis=1)).mean()
