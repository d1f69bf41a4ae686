"""Run a whole store config over its cameras and leave the outputs in one folder.

This is what `storelens run` and `storelens demo` call: it wires sources, detector, tracker and
analytics stages per camera, the event sinks (SQLite database and JSONL by default), the annotated
(redacted) video and the summary, and returns where each output is. Heat maps go to the same
database as they grow (:class:`~storelens.pipeline.heatmaps.HeatmapRecorder` as a frame observer,
flushed every minute and at the end), so `storelens serve` can show them later.

The cameras run under the same supervised runner as `storelens serve`
(:class:`~storelens.pipeline.supervisor.StoreSupervisor`: a worker per camera, watched for crashes
and hangs, the store-level stage fed by every camera, a clean stop that publishes every closing
event before the sinks close). Its policy here: one camera never takes the others down: a camera
whose source does not open (a missing or damaged file; the caller may already know it from the
config check and pass it as ``unavailable``) or whose pipeline crashes or hangs is reported as
``camera.offline``, listed under ``failed`` in the summary, and the other cameras run to their end;
a file is not replayed after a failure (its events would be counted twice), a live camera is
rebuilt with backoff (``restarts`` and ``hangs`` per camera in the summary).

A file that ends well before the length its header announces (a truncated copy) is a warning in
the summary and a ``camera.offline`` event with reason ``file_truncated``. A full disk is
different: nothing more can be recorded, so the run stops, writes what it still can and raises
:class:`~storelens.core.errors.DiskFullError`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storelens.config.cameras import CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.errors import as_disk_full
from storelens.core.results import FrameResult
from storelens.events.bus import EventBus
from storelens.events.models import Event
from storelens.events.payloads import CameraOffline
from storelens.pipeline.build import BuiltCamera
from storelens.pipeline.camera import RunStats
from storelens.pipeline.heatmaps import HeatmapRecorder
from storelens.pipeline.summary import SummaryCollector
from storelens.pipeline.supervisor import CameraStatus, Decision, DetectorFactory, StoreSupervisor, is_file_source
from storelens.sinks.factory import build_sinks, sink_handler

log = logging.getLogger(__name__)

ProgressFactory = Callable[[CameraConfig, int | None], Callable[[FrameResult], None]]
_JOIN_POLL_S = 0.2


@dataclass
class RunOutputs:
    out_dir: Path
    database_url: str
    events_jsonl: Path | None
    summary_json: Path
    videos: dict[str, Path] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    stats: dict[str, RunStats] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    """camera id -> why it analysed nothing more (source did not open, pipeline crashed)"""
    warnings: dict[str, str] = field(default_factory=dict)
    """camera id -> what looks wrong although it ran (a file that ended early)"""
    stopped: bool = False
    """``stop`` ended the run before the sources did"""
    events: int = 0
    """events published (what the sinks were given)"""

    @property
    def ran(self) -> list[str]:
        """Cameras that analysed their source (possibly with a warning)."""
        return [c for c in self.stats if c not in self.failed]


# A file may yield a few frames fewer than its header's duration times the rate (rounding, a short
# last GOP): only a shortfall beyond this share (and at least _TRUNCATED_MIN frames) is reported.
_TRUNCATED_SHARE = 0.02
_TRUNCATED_MIN = 3


def truncation_warning(camera_id: str, analysed: int, expected: int | None, last_error: str | None) -> str | None:
    """The warning for a file that ended well before its announced length, or None."""
    if expected is None or expected - analysed < max(_TRUNCATED_MIN, _TRUNCATED_SHARE * expected):
        return None
    why = f"; {last_error}" if last_error else ""
    return f"camera {camera_id}: file ended after {analysed} of {expected} frames (truncated?){why}"


def _camera_summary(b: BuiltCamera, st: RunStats, status: CameraStatus) -> dict[str, Any]:
    """A camera's line in summary.json (a camera whose worker never ran reports zeros)."""
    return {
        "restarts": status.restarts,
        "hangs": status.hangs,
        "frames_analysed": st.frames,
        "media_s": round(st.media_s, 2),
        "wall_s": round(st.wall_s, 2),
        "analysed_fps": round(st.fps, 2),
        "stage_median_ms": {k: round(v, 2) for k, v in st.median_ms().items()},
        "source": b.source_stats(),
        "stages": b.stage_summaries(),
    }


def _offline_event(cfg: StoreConfig, camera_id: str, payload: CameraOffline) -> Event:
    return Event.of(payload, cfg.store_id, time.time(), camera_id=camera_id)


def run_store(
    cfg: StoreConfig,
    out_dir: Path,
    *,
    progress: ProgressFactory | None = None,
    max_frames: int | None = None,
    annotate: bool | None = None,
    stop: threading.Event | None = None,
    unavailable: Mapping[str, str] | None = None,
    detector_factory: DetectorFactory | None = None,
) -> RunOutputs:
    """Analyse every enabled camera of ``cfg`` until its source ends (or ``stop`` is set).

    ``unavailable``: camera id -> reason, cameras already known not to open (they are reported as
    failed and not built); ``detector_factory`` gives each camera its detector (one shared session,
    tests); by default each camera loads its configured model. Raises
    :class:`~storelens.core.errors.DiskFullError` when an output could not be written for lack of
    space, after closing and writing whatever still could be."""
    stop = stop if stop is not None else threading.Event()
    out_dir.mkdir(parents=True, exist_ok=True)
    bus = EventBus()
    collector = SummaryCollector(cfg)
    bus.subscribe(collector)
    sink_set = build_sinks(cfg, out_dir)
    sinks, url, jsonl = sink_set.sinks, sink_set.database_url, sink_set.jsonl_path
    for sink in sinks:
        bus.subscribe(sink_handler(sink, cfg))
    outputs = RunOutputs(out_dir=out_dir, database_url=url, events_jsonl=jsonl, summary_json=out_dir / "summary.json")
    do_annotate = cfg.output.annotated_video if annotate is None else annotate
    cameras = [c for c in cfg.cameras if c.enabled]
    fatal: list[BaseException] = []  # a full disk: the first one ends the run
    heat = HeatmapRecorder(cfg, url)  # opens the database at its first flush, retried like the sink
    progress_of: dict[str, Callable[[FrameResult], None]] = {}

    def decide(cam: CameraConfig, exc: BaseException | None) -> Decision:
        """A full disk stops every camera; a file is not replayed after a failure (its events would
        be counted twice), so it is given up; a live camera is rebuilt with backoff."""
        if exc is not None:
            video = out_dir / f"{cam.id}_annotated.mp4" if do_annotate else out_dir
            full = as_disk_full(exc, video)
            if full is not None:
                fatal.append(full)
                return "stop"  # nothing more can be recorded: every camera stops (``stop`` is set)
        return "fail" if is_file_source(cam) else "restart"

    def on_built(b: BuiltCamera) -> None:
        if progress is not None:
            progress_of[b.camera.id] = progress(b.camera, b.expected_frames)

    def on_frame(camera_id: str, result: FrameResult) -> None:
        tick = progress_of.get(camera_id)
        if tick is not None:
            tick(result)

    runner = StoreSupervisor(
        cfg,
        bus,
        max_frames=max_frames,
        observers=[heat.observe, on_frame],
        decide=decide,
        on_built=on_built,
        video_dir=out_dir if do_annotate else None,
        detector_factory=detector_factory,
        store_heat=heat,  # the store map is flushed with the camera maps, live, not only at the end
        stop=stop,
    )
    store_feed = runner.store_feed  # 2+ calibrated cameras: one store, not N cameras
    started = time.time()
    run_ids: list[str] = []
    built: list[BuiltCamera] = []
    try:
        for cam in cameras:
            reason = (unavailable or {}).get(cam.id)
            if reason is None:
                run_ids.append(cam.id)
                continue
            outputs.failed[cam.id] = reason
            log.info("camera %s not run: %s", cam.id, reason)  # the caller reports outputs.failed
            bus.publish(_offline_event(cfg, cam.id, CameraOffline(reason="source_error", error=reason)))
        runner.start(run_ids)
        while not runner.join(_JOIN_POLL_S):  # short waits: a signal handler runs on this (the main) thread
            pass
        runner.finish()  # open store visits end with their journeys
        for cam_id in run_ids:
            b = runner.built(cam_id)
            status = runner.camera_status(cam_id)
            if status.state == "failed":
                outputs.failed[cam_id] = status.last_error or "failed"
                log.info("camera %s failed: %s", cam_id, outputs.failed[cam_id])
            if b is not None:
                built.append(b)
                outputs.stats[cam_id] = b.pipeline.stats
        outputs.stopped = stop.is_set() and not fatal
        for b in built:
            st = outputs.stats[b.camera.id]
            ended_early = outputs.stopped or fatal or (max_frames is not None and st.frames >= max_frames)
            if b.camera.id in outputs.failed or ended_early:
                continue
            warning = truncation_warning(b.camera.id, st.frames, b.expected_frames, b.source.stats.last_error)
            if warning is not None:
                outputs.warnings[b.camera.id] = warning
                log.info("%s", warning)
                bus.publish(
                    _offline_event(
                        cfg,
                        b.camera.id,
                        CameraOffline(reason="file_truncated", frames=st.frames, expected_frames=b.expected_frames),
                    )
                )
    finally:
        runner.stop()  # at once when the cameras ended; else (an error here) they stop before the sinks close
        try:
            try:
                heat.flush()
            finally:
                heat.close()
        except Exception as exc:
            full = as_disk_full(exc, url)
            if full is None:
                raise
            fatal.append(full)
        finally:
            try:
                sink_set.close()
            except Exception as exc:
                full = as_disk_full(exc, jsonl or url)
                if full is None:
                    raise
                fatal.append(full)
    outputs.events = bus.published
    for b in built:
        if b.video_path is not None:
            outputs.videos[b.camera.id] = b.video_path
        try:
            outputs.images.update(b.write_images(out_dir))
        except OSError as exc:
            full = as_disk_full(exc, out_dir)
            if full is None:
                raise
            fatal.append(full)
            break
    if store_feed is not None and not fatal:
        outputs.images.update(store_feed.write_images(out_dir))
    summary = collector.to_dict()
    if store_feed is not None:
        summary["store_level"] = store_feed.summary()
    summary["cameras"] = {
        b.camera.id: _camera_summary(b, outputs.stats.get(b.camera.id, RunStats()), runner.camera_status(b.camera.id))
        for b in built
    }
    summary["run"] = {"started": started, "wall_s": round(time.time() - started, 2)}
    delivery = sink_set.delivery()
    if delivery:
        summary["delivery"] = delivery  # broker outboxes: still pending (re-sent next start) / dropped
    summary["outputs"] = {
        "database": url,
        "events_jsonl": str(jsonl) if jsonl else None,
        "videos": {k: str(v) for k, v in outputs.videos.items()},
        "images": {k: str(v) for k, v in outputs.images.items()},
    }
    summary["run"]["stopped"] = outputs.stopped
    summary["failed"] = dict(outputs.failed)  # camera -> why it analysed nothing (more)
    summary["warnings"] = list(outputs.warnings.values())
    for cam_id, cam_summary in summary["cameras"].items():
        cam_summary["status"] = (
            "failed" if cam_id in outputs.failed else "warning" if cam_id in outputs.warnings else "ok"
        )
    outputs.summary = summary
    tmp = outputs.summary_json.with_name(outputs.summary_json.name + ".tmp")
    try:  # whole or not at all: a cut summary.json would be read as a (wrong) complete one
        tmp.write_text(json.dumps(summary, indent=2, default=str))
        os.replace(tmp, outputs.summary_json)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        full = as_disk_full(exc, outputs.summary_json)
        if full is None:
            raise
        fatal.append(full)
    if fatal:
        raise fatal[0]
    return outputs
