"""Run a whole store config over its cameras and leave the outputs in one folder.

This is what `storelens run` and `storelens demo` call: it wires sources, detector, tracker and
analytics stages per camera, the event sinks (SQLite database and JSONL by default), the annotated
(redacted) video and the summary, and returns where each output is. Heat maps go to the same
database as they grow (:class:`~storelens.pipeline.heatmaps.HeatmapRecorder` as a frame observer,
flushed every minute and at the end), so `storelens serve` can show them later.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storelens.config.schema import CameraConfig, StoreConfig
from storelens.events.bus import EventBus
from storelens.pipeline.build import BuiltCamera, build_camera
from storelens.pipeline.camera import FrameResult, RunStats
from storelens.pipeline.heatmaps import HeatmapRecorder
from storelens.pipeline.summary import SummaryCollector
from storelens.sinks.factory import build_sinks, sink_handler

log = logging.getLogger(__name__)

ProgressFactory = Callable[[CameraConfig, int | None], Callable[[FrameResult], None]]


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


def _camera_summary(b: BuiltCamera, st: RunStats) -> dict[str, Any]:
    """A camera's line in summary.json (a camera whose thread never ran reports zeros)."""
    return {
        "frames_analysed": st.frames,
        "media_s": round(st.media_s, 2),
        "wall_s": round(st.wall_s, 2),
        "analysed_fps": round(st.fps, 2),
        "stage_median_ms": {k: round(v, 2) for k, v in st.median_ms().items()},
        "source": b.source_stats(),
        "stages": b.stage_summaries(),
    }


def run_store(
    cfg: StoreConfig,
    out_dir: Path,
    *,
    progress: ProgressFactory | None = None,
    max_frames: int | None = None,
    annotate: bool | None = None,
    stop: threading.Event | None = None,
) -> RunOutputs:
    """Analyse every enabled camera of ``cfg`` until its source ends (or ``stop``)."""
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
    built = [build_camera(cfg, cam, bus, out_dir if do_annotate else None) for cam in cameras]
    heat = HeatmapRecorder(cfg, url)  # opens the database at its first flush, retried like the sink
    for b in built:
        b.pipeline.observers.append(functools.partial(heat.observe, b.camera.id))
    started = time.time()
    try:
        threads: list[threading.Thread] = []
        for b in built:
            on_frame = progress(b.camera, b.expected_frames) if progress is not None else None

            def work(b: Any = b, on_frame: Any = on_frame) -> None:
                try:
                    outputs.stats[b.camera.id] = b.pipeline.run(
                        b.source, stop=stop, on_frame=on_frame, max_frames=max_frames
                    )
                finally:
                    b.close()

            if len(built) == 1:
                work()
            else:
                t = threading.Thread(target=work, name=f"camera-{b.camera.id}", daemon=True)
                t.start()
                threads.append(t)
        for t in threads:
            t.join()
    finally:
        try:
            heat.flush()
        finally:
            heat.close()
            sink_set.close()
    for b in built:
        if b.video_path is not None:
            outputs.videos[b.camera.id] = b.video_path
        outputs.images.update(b.write_images(out_dir))
    summary = collector.to_dict()
    summary["cameras"] = {b.camera.id: _camera_summary(b, outputs.stats.get(b.camera.id, RunStats())) for b in built}
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
    outputs.summary = summary
    outputs.summary_json.write_text(json.dumps(summary, indent=2, default=str))
    return outputs
