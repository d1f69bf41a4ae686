"""Privacy masks reach the annotated video: the pipeline's own output, not only `storelens redact`.

A mask (say a PIN pad) is drawn on the counter camera; a few real frames of the demo clip go
through ``run_store`` with the annotated video on; decoded back, the masked rectangle is black in
every frame while the same rectangle of the unmasked run shows the shop.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from storelens.config import StoreConfig, load_config
from storelens.pipeline.run import run_store
from testdata import DEMO_STORE

DEMO = DEMO_STORE
MASK = [(600.0, 40.0), (740.0, 40.0), (740.0, 140.0), (600.0, 140.0)]  # native px, clear of zones
FRAMES = 6

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def store(mask: bool) -> StoreConfig:
    cfg = load_config(DEMO)
    data = cfg.model_dump()
    data["cameras"] = [{**c, "enabled": c["id"] == "counter-cam", "fps": 2.5} for c in data["cameras"]]
    data["output"].update(annotated_video=True, jsonl=False, database_url=None)
    data["emotion"]["enabled"] = False
    data["intent"]["enabled"] = False
    data["privacy"]["masks"] = [{"camera": "counter-cam", "points": MASK}] if mask else []
    out = StoreConfig.model_validate(data)
    out.base_dir = cfg.base_dir
    return out


def masked_region_means(video: Path) -> list[float]:
    """Mean intensity inside the mask rectangle of each decoded frame (frames may be downscaled)."""
    out = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            img = frame.to_ndarray(format="bgr24")
            scale = img.shape[1] / 768.0  # the mask is in the clip's native 768 px width
            (x0, y0), (x1, y1) = MASK[0], MASK[2]
            inner = img[int(y0 * scale) + 3 : int(y1 * scale) - 3, int(x0 * scale) + 3 : int(x1 * scale) - 3]
            out.append(float(inner.mean()))
    return out


def test_masks_are_black_in_the_annotated_video(tmp_path: Path) -> None:
    means = {}
    for mask in (True, False):
        result = run_store(store(mask), tmp_path / str(mask), max_frames=FRAMES)
        assert result.stats["counter-cam"].frames == FRAMES
        video = next((tmp_path / str(mask)).glob("counter-cam*.mp4"))
        means[mask] = masked_region_means(video)
        assert len(means[mask]) == FRAMES
    assert max(means[True]) < 8.0, means[True]  # black, up to compression noise
    assert min(means[False]) > 40.0, means[False]  # the shop is visible there without the mask
