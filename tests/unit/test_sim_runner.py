"""Store simulator: reproducible per seed, plausible trajectories, noise, layouts, evaluation, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from storelens.config.cameras import ZoneKind
from storelens.events.models import EventType
from storelens.intent.engine import IntentEngine
from storelens.intent.states import IntentState
from storelens.sim.baseline import DwellThresholdBaseline
from storelens.sim.evaluation import evaluate
from storelens.sim.layout import StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.runner import SimConfig, plan_shoppers, run_simulation
from storelens.sim.scripts import PRIMARY

LAYOUT = StoreLayout.demo()


class Null:
    def update(self, now: float, samples: object = (), events: object = ()) -> list[object]:
        return []

    def close(self, now: float) -> list[object]:
        return []


def _sig(events: list) -> list[tuple]:  # type: ignore[type-arg]
    return [(e.type, e.ts, e.subject, e.zone_id, json.dumps(e.payload, sort_keys=True)) for e in events]


def _run(seed: int, noise: NoiseConfig, shoppers: int = 8, minutes: float = 3.0):  # type: ignore[no-untyped-def]
    cfg = SimConfig(shoppers=shoppers, minutes=minutes, seed=seed, noise=noise)
    eng = IntentEngine(cfg.store_id, zones=LAYOUT.zones)
    return run_simulation(LAYOUT, cfg, {"e": eng})


def test_same_seed_same_store_day() -> None:
    a, b = _run(3, NoiseConfig.realistic()), _run(3, NoiseConfig.realistic())
    assert _sig(a.observed) == _sig(b.observed)
    assert _sig(a.outputs["e"]) == _sig(b.outputs["e"])
    c = _run(4, NoiseConfig.realistic())
    assert _sig(a.observed) != _sig(c.observed)


def test_noise_does_not_change_the_ground_truth() -> None:
    cfg = SimConfig(shoppers=10, minutes=3, seed=7)
    clean = plan_shoppers(LAYOUT, cfg)
    noisy = plan_shoppers(LAYOUT, SimConfig(shoppers=10, minutes=3, seed=7, noise=NoiseConfig.realistic()))
    assert [(p.script, p.phases) for p in clean] == [(p.script, p.phases) for p in noisy]


def test_trajectories_have_plausible_speeds() -> None:
    plans = plan_shoppers(LAYOUT, SimConfig(shoppers=25, minutes=6, seed=1))
    walking = []
    for p in plans:
        t = np.arange(p.traj.start, p.end, 0.25)
        xy = p.traj.sample(t)
        # speed over 1 s windows
        v = np.hypot(*(xy[4:] - xy[:-4]).T) / 1.0
        assert v.max() < 1.7, f"shopper {p.shopper} ({p.script}) moves at {v.max():.2f} m/s"
        walking.extend(v[v > 0.6].tolist())
        # inside the floor plan
        assert (xy[:, 0] >= -0.1).all() and (xy[:, 0] <= LAYOUT.width + 0.1).all()
        assert (xy[:, 1] >= -0.1).all() and (xy[:, 1] <= LAYOUT.height + 0.1).all()
    w = np.asarray(walking)
    assert 0.85 <= float(np.median(w)) <= 1.4  # people walk at about 1.0-1.4 m/s
    assert float(np.percentile(w, 95)) <= 1.55


def test_scripts_carry_their_ground_truth() -> None:
    plans = plan_shoppers(LAYOUT, SimConfig(shoppers=40, minutes=10, seed=2, staff=2))
    seen = {p.script for p in plans}
    assert seen == set(PRIMARY)
    for p in plans:
        if p.staff:
            assert p.phases == [] and p.primary is None
            continue
        states = [ph.state for ph in p.phases]
        assert p.primary in states, p.script
        assert all(a.start <= b.start for a, b in zip(p.phases, p.phases[1:], strict=False))
        if p.script == "buy":
            assert states[-1] == IntentState.CHECKOUT
            till = p.traj.sample(np.array([p.end - 8.0]))[0]  # paying, or leaving from the till
            assert till[0] >= 4.0
        if p.script == "consider":
            assert states[-1] == IntentState.LEAVING_WITHOUT_PURCHASE
        events = {e.type for e in p.events}
        if p.script in ("need_help", "hesitate"):
            assert EventType.PRODUCT_RETURNED in events


def test_noise_fragments_and_id_quality() -> None:
    clean = _run(5, NoiseConfig.off(), shoppers=12, minutes=4)
    noisy = _run(5, NoiseConfig.realistic(), shoppers=12, minutes=4)
    assert clean.idf1 == pytest.approx(1.0, abs=1e-9)
    assert 0.5 < noisy.idf1 < 0.98
    assert len(noisy.owner) >= len(clean.owner)  # fragments add ids
    assert noisy.samples < clean.samples  # missed detections


def test_zone_events_follow_the_behaviour_contract() -> None:
    r = _run(6, NoiseConfig.off(), shoppers=10, minutes=4)
    entered = [e for e in r.observed if e.type == EventType.ZONE_ENTERED]
    exited = [e for e in r.observed if e.type == EventType.ZONE_EXITED]
    assert entered and len(entered) == len(exited)
    assert all({"zone_kind", "zone_name", "category"} <= set(e.payload) for e in entered)
    assert all(e.payload["dwell_s"] >= 1.0 for e in exited)  # min_dwell_s
    kinds = {e.payload["zone_kind"] for e in entered}
    assert {"entrance", "aisle", "queue", "checkout"} <= kinds


def test_engine_beats_the_dwell_baseline_on_a_small_run() -> None:
    cfg = SimConfig(shoppers=30, minutes=8, seed=11)
    engines = {
        "ours": IntentEngine(cfg.store_id, zones=LAYOUT.zones),
        "base": DwellThresholdBaseline(cfg.store_id, LAYOUT.zones),
    }
    r = run_simulation(LAYOUT, cfg, engines)
    ours, base = evaluate(r, "ours"), evaluate(r, "base")
    assert ours.visits == base.visits == sum(1 for p in r.plans if not p.staff)
    assert ours.macro_f1 > 0.7
    assert ours.macro_f1 > base.macro_f1 + 0.2


def test_layout_from_a_store_config() -> None:
    store = LAYOUT.store_config()
    lay = StoreLayout.from_config(store)
    assert set(lay.categories) == set(LAYOUT.categories)
    assert lay.till is not None and lay.queue_slots
    for spot in lay.spots:  # shoppers stand on walkable floor, not inside a shelf
        kinds = {z.kind for z in lay.zones_at(spot.pos)}
        assert ZoneKind.SHELF not in kinds
    cfg = SimConfig(shoppers=6, minutes=3, seed=0)
    r = run_simulation(lay, cfg, {"n": Null()})  # type: ignore[dict-item]
    assert r.samples > 0
    no_entrance = store.model_copy(update={"zones": [z for z in store.zones if z.kind != ZoneKind.ENTRANCE]})
    with pytest.raises(ValueError, match="entrance"):
        StoreLayout.from_config(no_entrance)


def test_bad_sim_config() -> None:
    with pytest.raises(ValueError, match="mix"):
        SimConfig(mix={"dance": 1.0})
    with pytest.raises(ValueError, match="fps"):
        SimConfig(fps=100)


def test_cli_simulate_writes_events_and_summary(tmp_path: Path) -> None:
    from storelens.cli.main import app

    res = CliRunner().invoke(
        app, ["simulate", "--shoppers", "8", "--minutes", "3", "--seed", "2", "--noise", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["shoppers"] == 8 and summary["dry_run"] is True and summary["noise"] is True
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    types = {json.loads(line)["type"] for line in lines}
    assert {"zone.entered", "intent.changed", "intent.ended"} <= types
    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(truth) == 9  # 8 shoppers + 1 staff
    assert "states entered" in res.output
    bad = CliRunner().invoke(app, ["simulate", "--config", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2


def test_observations_go_through_the_real_behaviour_stage() -> None:
    """Staff are flagged by the analytics' own staff classifier, lingering survives feet jitter,
    and the run reports the CPU each stage took (what bench/load.py adds up)."""
    clean = _run(6, NoiseConfig.off(), shoppers=10, minutes=4)
    jittery = _run(6, NoiseConfig(jitter_m=0.12), shoppers=10, minutes=4)
    staff = {p.shopper for p in clean.plans if p.staff}
    flagged = {clean.owner[e.subject] for e in clean.observed if e.subject and e.payload.get("staff") is True}
    assert staff and flagged == staff
    lingering = [sum(e.type == EventType.ZONE_LINGERING for e in r.observed) for r in (clean, jittery)]
    assert lingering[0] >= 5 and lingering[1] >= 0.7 * lingering[0]
    assert set(clean.cpu_s) == {"analytics", "intent:e"} and min(clean.cpu_s.values()) > 0
