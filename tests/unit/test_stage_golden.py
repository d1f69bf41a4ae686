"""BehaviourStage output pinned to a recording: a refactor of the hot path must not change a byte.

The recording (``tests/data/stage_golden.json.gz``) was produced by this very scenario with the
stage code before its per-frame speed-ups; the test replays the scenario and compares every
emitted event (its random ``id`` aside) and the final ``summary()`` as canonical JSON. The scenario
is the benchmark's shape (50 people random-walking through six zones of every kind, an image line
and a floor line) plus track churn (people leave, new ids arrive, gaps of a few frames), so slot
reuse, exit grace, revisits, queues and staff exclusion all take part. An uncalibrated camera runs
the same tracks in image space.

Regenerate (only when a behaviour change is intended): ``.venv/bin/python tests/unit/test_stage_golden.py``.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import numpy as np

from factories import boxes_on_feet, make_tracks
from storelens.analytics.stage import BehaviourStage
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from testdata import TEST_DATA

GOLDEN = TEST_DATA / "stage_golden.json.gz"
KINDS = ("shelf", "aisle", "display", "queue", "checkout", "staff_only")


def store() -> StoreConfig:
    return StoreConfig.model_validate(
        {
            "store_id": "golden",
            "cameras": [
                {
                    "id": "cam",
                    "source": "x",
                    "calibration": {
                        "image_points": [[100, 700], [1180, 700], [1000, 200], [280, 200], [640, 450]],
                        "floor_points": [[0, 0], [12, 0], [12, 20], [0, 20], [6, 6.5]],
                    },
                },
                {"id": "raw", "source": "y"},
            ],
            "zones": [
                {
                    "id": f"{cam}{i}",
                    "kind": kind,
                    "camera": cam,
                    "points": [[x, 300], [x + 200, 300], [x + 200, 650], [x, 650]],
                }
                for cam in ("cam", "raw")
                for i, (x, kind) in enumerate(zip(range(50, 1250, 200), KINDS, strict=True))
            ]
            + [{"id": "fz", "kind": "display", "space": "floor", "points": [[2, 2], [8, 2], [8, 9], [2, 9]]}],
            "lines": [
                {"id": "door", "camera": "cam", "a": [0, 600], "b": [1280, 600]},
                {"id": "rawdoor", "camera": "raw", "a": [640, 200], "b": [640, 720]},
                {"id": "mid", "space": "floor", "a": [6, 0], "b": [6, 20]},
            ],
        }
    )


def frames(n_frames: int = 500, n_tracks: int = 50, seed: int = 7) -> list[Tracks]:
    """Random walkers; each frame a few leave (new id later) and a few skip the frame (a gap)."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 220], [1280, 700], size=(n_tracks, 2))
    step = rng.uniform(1, 14, size=n_tracks)
    ids = np.arange(n_tracks, dtype=np.int64)
    next_id = n_tracks
    out = []
    for _ in range(n_frames):
        pos = np.clip(pos + rng.normal(0, 1, size=pos.shape) * step[:, None], [0, 220], [1279, 719])
        leave = rng.random(n_tracks) < 0.01
        for i in np.flatnonzero(leave).tolist():
            ids[i] = next_id
            next_id += 1
            pos[i] = rng.uniform([0, 220], [1280, 700])
            step[i] = rng.uniform(1, 14)
        seen = rng.random(n_tracks) > 0.05
        p = pos[seen]
        out.append(make_tracks(boxes_on_feet(p, width=30, height=120), ids[seen].copy()))
    return out


def run() -> dict[str, Any]:
    cfg = store()
    tracks = frames()
    result: dict[str, Any] = {}
    for cam in ("cam", "raw"):
        stage = BehaviourStage(cfg, cam)
        events = []
        t = 0.0
        for i, tr in enumerate(tracks):
            t = i / 10
            events += stage.update(tr, t, 1.8e9 + t, frame_size=(1280, 720))
        events += stage.close(t + 0.1, 1.8e9 + t + 0.1)
        result[cam] = {
            # id is random; pts and frame are stamped by the camera pipeline, not by the stage
            "events": [e.model_dump(mode="json", exclude={"id", "pts", "frame"}) for e in events],
            "summary": stage.summary(),
        }
    # round-trip so floats and keys are exactly what JSON stores
    loaded: dict[str, Any] = json.loads(json.dumps(result, sort_keys=True))
    return loaded


def test_stage_output_matches_recording() -> None:
    want = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    got = run()
    for cam in ("cam", "raw"):
        assert len(got[cam]["events"]) == len(want[cam]["events"]), cam
        for i, (g, w) in enumerate(zip(got[cam]["events"], want[cam]["events"], strict=True)):
            assert g == w, (cam, i)
        assert got[cam]["summary"] == want[cam]["summary"], cam
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


if __name__ == "__main__":
    data = json.dumps(run(), sort_keys=True, separators=(",", ":")).encode()
    GOLDEN.write_bytes(gzip.compress(data, 9, mtime=0))
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
