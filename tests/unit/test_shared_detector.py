"""One detector for many cameras (issue 16): frames submitted from several threads come back as
exactly the detections each frame gets alone, batched as they queued; errors reach the camera
that caused them; closing runs (or fails) what is still queued, never drops it silently."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import CancelledError

import numpy as np
import numpy.typing as npt
import pytest

from storelens.config.detection import DetectorConfig
from storelens.core.types import Detections
from storelens.vision.base import Detector
from storelens.vision.detector import YoloDetector
from storelens.vision.quantize import read_frames
from storelens.vision.shared_detector import DetectorClosed, SharedDetector
from testdata import DEMO_COUNTER_CLIP, DEMO_ENTRANCE_CLIP


class Gated:
    """Wraps a detector: each batch waits for ``gate`` and is recorded, so a test decides what
    is queued when the worker takes its next batch."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.started = threading.Event()
        self.batches: list[int] = []
        self.fail_next = False

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        self.started.set()
        assert self.gate.wait(10)
        self.batches.append(len(images))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model exploded")
        return self.inner.detect_batch(images)


@pytest.fixture(scope="module")
def pose() -> YoloDetector:
    return YoloDetector(DetectorConfig(input_size=320, threads=1, device="cpu", backend="onnxruntime"))


@pytest.fixture(scope="module")
def frames() -> list[npt.NDArray[np.uint8]]:
    # four 480x270 frames with people walking in, and the empty 768x432 counter (a second size)
    return read_frames(DEMO_ENTRANCE_CLIP, every=10, stop=31) + read_frames(DEMO_COUNTER_CLIP, stop=1)


def test_frames_from_many_cameras_get_their_own_detections(
    pose: YoloDetector, frames: list[npt.NDArray[np.uint8]]
) -> None:
    alone = [pose.detect(f) for f in frames]
    assert sum(len(d) for d in alone[:4]) >= 4 and len(alone[4]) == 0
    gated = Gated(pose)
    shared = SharedDetector(gated, max_batch=8)
    assert isinstance(shared, Detector)  # hand the same object to every camera
    warm = shared.submit(frames[0])  # taken alone; holds the worker until the gate opens
    assert gated.started.wait(10)
    results: list[Detections | None] = [None] * len(frames)

    def camera(i: int) -> None:
        results[i] = shared.detect(frames[i])

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(len(frames))]
    for t in threads:
        t.start()
    while shared.stats().pending < len(frames):
        threading.Event().wait(0.005)
    gated.gate.set()
    for t in threads:
        t.join(30)
    warm.result(10)
    shared.close()
    assert gated.batches == [1, len(frames)]  # everything queued went as one batch
    stats = shared.stats()
    assert (stats.frames, stats.batches, stats.largest_batch, stats.pending) == (6, 2, 5, 0)
    for got, want in zip(results, alone, strict=True):
        assert got is not None and len(got) == len(want)
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=0.05)
        np.testing.assert_array_equal(got.class_id, want.class_id)
        assert got.keypoints is not None and want.keypoints is not None
        np.testing.assert_allclose(got.keypoints, want.keypoints, atol=0.05)


def test_max_batch_splits_the_queue(pose: YoloDetector, frames: list[npt.NDArray[np.uint8]]) -> None:
    gated = Gated(pose)
    with SharedDetector(gated, max_batch=2) as shared:
        first = shared.submit(frames[0])
        assert gated.started.wait(10)
        rest = [shared.submit(f) for f in frames[:4]]
        gated.gate.set()
        for f in [first, *rest]:
            f.result(30)
    assert gated.batches == [1, 2, 2]


def test_errors_reach_the_camera_that_caused_them(pose: YoloDetector, frames: list[npt.NDArray[np.uint8]]) -> None:
    gated = Gated(pose)
    gated.gate.set()
    with SharedDetector(gated) as shared:
        with pytest.raises(ValueError, match="HxWx3 uint8"):
            shared.submit(np.zeros((4, 4), np.uint8))  # refused at once: it never joins a batch
        with pytest.raises(ValueError, match="empty"):
            shared.submit(np.zeros((0, 4, 3), np.uint8))
        gated.fail_next = True
        with pytest.raises(RuntimeError, match="model exploded"):
            shared.detect(frames[0])
        assert len(shared.detect(frames[0])) == len(pose.detect(frames[0]))  # the worker lives on
    with pytest.raises(ValueError, match="max_batch"):
        SharedDetector(pose, max_batch=0)


def test_close_drains_or_fails_what_is_queued(pose: YoloDetector, frames: list[npt.NDArray[np.uint8]]) -> None:
    for drain in (True, False):
        gated = Gated(pose)
        shared = SharedDetector(gated)
        running = shared.submit(frames[0])
        assert gated.started.wait(10)
        queued = [shared.submit(f) for f in frames[1:3]]
        cancelled = shared.submit(frames[3])
        assert cancelled.cancel()  # a camera that gave up waiting: its frame is not run
        closer = threading.Thread(target=shared.close, kwargs={"drain": drain})
        closer.start()
        while not shared.closed or (not drain and shared.stats().pending):
            threading.Event().wait(0.005)
        gated.gate.set()
        closer.join(30)
        assert len(running.result(10)) == len(pose.detect(frames[0]))
        if drain:
            assert [len(q.result(10)) for q in queued] == [len(pose.detect(f)) for f in frames[1:3]]
            assert gated.batches == [1, 2]
        else:
            for q in queued:
                with pytest.raises(DetectorClosed):
                    q.result(10)
            assert gated.batches == [1]
        with pytest.raises(CancelledError):
            cancelled.result(0)
        with pytest.raises(DetectorClosed):
            shared.submit(frames[0])


def test_cameras_with_their_own_input_size_share_the_detector(
    pose: YoloDetector, frames: list[npt.NDArray[np.uint8]]
) -> None:
    with SharedDetector(pose) as shared:
        sizes = [None, 640, None, 640]
        futures = [shared.submit(f, input_size=s) for f, s in zip(frames[:4], sizes, strict=True)]
        got = [f.result(30) for f in futures]
        with pytest.raises(ValueError, match="multiple of 32"):
            shared.submit(frames[0], input_size=100)
    for frame, size, det in zip(frames[:4], sizes, got, strict=True):
        want = pose.detect_batch([frame], input_size=size)[0]
        assert len(det) == len(want)
        np.testing.assert_allclose(det.xyxy, want.xyxy, atol=0.05)
    assert sum(len(d) for d in got) >= 4
    with pytest.raises(ValueError, match="multiple of 32"):
        pose.detect_batch(frames[:1], input_size=4000)
    with SharedDetector(Gated(pose)) as wrapped, pytest.raises(ValueError, match="takes input_size"):
        wrapped.submit(frames[0], input_size=640)
