"""Heat maps of a real run reach the database, and a serve process with no pipelines shows them.

The real pipeline (detector, tracker, stages) runs a few seconds of the demo's counter clip through
``run_store`` (what ``storelens demo``/``run`` call), as a restart would: two runs into one database.
The stored cells must equal what the behaviour stage's own accumulator counted (the demo has no staff
rule, so both see the same people), and the API of ``serve --no-pipelines`` must serve the sum.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from storelens.analytics.heatmap import HeatmapGrid
from storelens.config import StoreConfig, load_config
from storelens.pipeline.run import run_store
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.storage import open_database
from storelens.storage.heatmaps import read_heatmap
from testdata import DEMO_STORE

DEMO = DEMO_STORE
API = "/api/v1"
FRAMES = 40  # at 2.5 fps: the first 16 s of the clip, in which the first shopper walks up and stands

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def counter_only(db_url: str) -> StoreConfig:
    """The demo store, counter camera only at 2.5 fps, no video or JSONL, 60 s heat-map buckets."""
    cfg = load_config(DEMO)
    data = cfg.model_dump()
    data["cameras"] = [{**c, "enabled": c["id"] == "counter-cam", "fps": 2.5} for c in data["cameras"]]
    data["behaviour"]["heatmap"]["bucket_s"] = 60
    data["output"].update(annotated_video=False, jsonl=False, database_url=db_url)
    data["emotion"]["enabled"] = False
    data["intent"]["enabled"] = False
    out = StoreConfig.model_validate(data)
    out.base_dir = cfg.base_dir
    return out


def stage_maps(summary: dict[str, Any]) -> tuple[HeatmapGrid, np.ndarray, np.ndarray]:
    heat = summary["cameras"]["counter-cam"]["stages"]["behaviour"]["heatmaps"]
    return HeatmapGrid.from_dict(heat["grid"]), np.asarray(heat["traffic"], float), np.asarray(heat["dwell_s"], float)


def test_run_stores_the_heat_maps_the_stage_counted_and_serve_shows_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'storelens.db'}"
    cfg = counter_only(url)
    grids, traffic, dwell = [], np.zeros(0), np.zeros(0)
    for run in range(2):  # a second run into the same database: a restart adds, nothing is replaced
        out = run_store(cfg, tmp_path / f"run{run}", max_frames=FRAMES)
        assert out.stats["counter-cam"].frames == FRAMES
        grid, t, d = stage_maps(out.summary)
        grids.append(grid)
        traffic, dwell = (t, d) if run == 0 else (traffic + t, dwell + d)
    assert grids[0] == grids[1] and dwell.sum() > 1.0, "someone walks up within the first 16 s"

    with open_database(url) as db, db.begin() as conn:
        stored = read_heatmap(conn, store_id=cfg.store_id, camera_id="counter-cam")
    assert stored is not None and stored.grid == grids[0] and stored.skipped == 0
    np.testing.assert_array_equal(stored.traffic, traffic)
    np.testing.assert_allclose(stored.dwell, dwell, atol=0.011)  # the summary rounds cells to 0.01 s
    assert stored.dwell.sum() == pytest.approx(dwell.sum(), rel=1e-3)

    settings = ServiceSettings(store=cfg, database_url=url, run_pipelines=False)
    with TestClient(create_app(settings, ServiceDeps.build(settings))) as client:
        body = client.get(f"{API}/heatmaps/counter-cam", params={"metric": "dwell"}).json()
        png = client.get(f"{API}/heatmaps/counter-cam", params={"format": "png"})
    assert body["total"] == pytest.approx(dwell.sum(), rel=1e-3) and body["bucket_s"] == 60
    assert (body["grid"]["nx"], body["grid"]["ny"]) == (grids[0].nx, grids[0].ny)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
