"""Wire one camera from its config: source, detector, tracker, stitcher, stages, outputs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from storelens.config.cameras import CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import Frame
from storelens.events.bus import EventBus
from storelens.output.annotate import Annotator
from storelens.output.video import VideoWriter
from storelens.pipeline.camera import BusSubscriber, CameraPipeline, FaceLocator, ImageWriter, Stage
from storelens.privacy.masks import masks_for
from storelens.sources.base import FrameSource
from storelens.vision.base import Detector

log = logging.getLogger(__name__)


def scale_camera_geometry(store: StoreConfig, camera_id: str, scale: float) -> StoreConfig:
    """A copy of ``store`` whose image-space zones, lines and privacy masks on ``camera_id`` are scaled.

    Zones are drawn in the camera's native pixels; a source that downscales frames (max_width)
    produces tracks in the smaller pixels, so the geometry must follow. Masks too: a stage that
    renders an image of the camera (the heat-map backdrop) fills them from this copy, and a mask
    left in native pixels would cover the wrong place of a downscaled frame. And the calibration's
    image points: a homography fitted in native pixels sends downscaled feet points to the wrong
    floor place (and the camera it implies, which body heights are measured with, is wrong)."""
    if abs(scale - 1.0) < 1e-9:
        return store
    data = store.model_dump()
    for z in data["zones"]:
        if z["space"] == "image" and z["camera"] == camera_id:
            z["points"] = [(x * scale, y * scale) for x, y in z["points"]]
    for ln in data["lines"]:
        if ln["space"] == "image" and ln["camera"] == camera_id:
            ln["a"] = (ln["a"][0] * scale, ln["a"][1] * scale)
            ln["b"] = (ln["b"][0] * scale, ln["b"][1] * scale)
    for m in data["privacy"]["masks"]:
        if m["camera"] == camera_id:
            m["points"] = [(x * scale, y * scale) for x, y in m["points"]]
    for c in data["cameras"]:
        if c["id"] == camera_id and c.get("calibration"):
            c["calibration"]["image_points"] = [(x * scale, y * scale) for x, y in c["calibration"]["image_points"]]
    scaled = StoreConfig.model_validate(data)
    scaled.base_dir = store.base_dir
    return scaled


def make_stages(store: StoreConfig, camera_id: str, detector: Detector | None = None) -> list[Stage]:
    """The analytics stages for one camera, in the order they must run: every
    :data:`~storelens.pipeline.stages.STAGES` entry the camera wants (``detector``: the camera's
    own, used once more on the heat-map backdrop)."""
    from storelens.pipeline.stages import STAGES

    built: dict[str, Stage] = {}
    for spec in STAGES:
        if spec.wanted(store, camera_id):
            built[spec.name] = spec.build(store, camera_id, built, detector)
    return list(built.values())


@dataclass
class BuiltCamera:
    camera: CameraConfig
    pipeline: CameraPipeline
    source: FrameSource
    video_path: Path | None = None
    expected_frames: int | None = None
    _writer: VideoWriter | None = None
    _annotator: Annotator | None = None
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.close()

    def source_stats(self) -> dict[str, Any]:
        s = self.source.stats
        return {
            "decoded": s.decoded,
            "emitted": s.emitted,
            "dropped": s.dropped,
            "queue_dropped": s.queue_dropped,
            "corrupt": s.corrupt,
            "reconnects": s.reconnects,
            "last_error": s.last_error,
        }

    def stage_summaries(self) -> dict[str, Any]:
        return {st.name: st.summary() for st in self.pipeline.stages}

    def write_images(self, out_dir: Path) -> dict[str, Path]:
        """Images some stages render at the end (heat maps); name -> path."""
        out: dict[str, Path] = {}
        for st in self.pipeline.stages:
            if isinstance(st, ImageWriter):
                out.update(st.write_images(out_dir))
        return out


def _video_observer(
    writer: VideoWriter, annotator: Annotator, pipeline: CameraPipeline
) -> Callable[[FrameResult], None]:
    def write_frame(result: FrameResult) -> None:
        # faces found by the emotion stage are blurred too (on top of the keypoint head boxes)
        faces = [st.face_boxes() for st in pipeline.stages if isinstance(st, FaceLocator)]
        face_xyxy = np.concatenate(faces) if faces else None
        writer.write(annotator.draw(result, face_xyxy=face_xyxy))

    return write_frame


def _expected_frames(cam: CameraConfig, store: StoreConfig) -> int | None:
    """Frames a file source will yield at the analysed fps (for the progress bar)."""
    from storelens.sources.probe import media_duration

    length = None if cam.loop else media_duration(store, cam)
    if length is None:
        return None
    seconds, rate = length
    return int(seconds * min(rate or cam.fps, cam.fps)) or None


def build_camera(
    store: StoreConfig,
    cam: CameraConfig,
    bus: EventBus,
    video_dir: Path | None,
    *,
    detector: Detector | None = None,
) -> BuiltCamera:
    """Everything one camera needs; ``detector`` may be injected (benchmarks, shared GPU sessions)."""
    from storelens.sources.factory import open_source
    from storelens.tracking.registry import make_stitcher, make_tracker
    from storelens.vision.detector import YoloDetector

    if detector is None:
        detector = YoloDetector(store.detector_for(cam.id), base_dir=store.base_dir)
    tracker = make_tracker(store.tracker)
    stitcher = make_stitcher(store.tracker)

    holder: dict[str, Any] = {}

    def stage_factory(frame: Frame) -> list[Stage]:
        native = holder["source"].stats.extra.get("native_width")
        scale = frame.width / float(native) if native else 1.0
        scaled = scale_camera_geometry(store, cam.id, scale)
        if holder.get("annotator") is not None:
            holder["annotator"].zones = scaled.zones_for(cam.id)
            # privacy masks (a PIN pad, a staff door) are drawn in native pixels like zones
            holder["annotator"].redactor.masks = masks_for(store, cam.id, scale)
        stages = make_stages(scaled, cam.id, detector)
        for st in stages:
            if isinstance(st, BusSubscriber):
                st.subscribe(bus)
        return stages

    pipeline = CameraPipeline(store, cam, detector, tracker, stage_factory, bus, stitcher=stitcher)
    writer = annotator = None
    video_path = None
    if video_dir is not None:
        video_path = video_dir / f"{cam.id}_annotated.mp4"
        writer = VideoWriter(video_path, fps=cam.fps)
        annotator = Annotator(store.zones_for(cam.id))
        annotator.redactor.masks = masks_for(store, cam.id)  # rescaled once the frame size is known
        holder["annotator"] = annotator
        pipeline.observers.append(_video_observer(writer, annotator, pipeline))
    source = open_source(cam, store.base_dir, on_status=pipeline.status_event)
    holder["source"] = source
    return BuiltCamera(
        camera=cam,
        pipeline=pipeline,
        source=source,
        video_path=video_path,
        expected_frames=_expected_frames(cam, store),
        _writer=writer,
        _annotator=annotator,
    )
