"""Experiments: intervals against published values and scipy, the randomised hold-out recorded at
trigger time and never shown, and a planted uplift found from stored events (issue 20)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scipy import stats as st

from storelens.actions.dispatcher import ActionDispatcher, ActionEngine, CallbackEndpoint
from storelens.actions.promotions import PromotionManager
from storelens.config.actions import ActionsConfig, PromotionsConfig
from storelens.config.store import StoreConfig
from storelens.events.models import Event, EventType
from storelens.kpis import experiments as kx
from storelens.kpis.stats import n_per_arm_means, n_per_arm_proportions, newcombe_diff, welch_diff, wilson
from storelens.storage import open_database, store_events

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TRI = [[0, 0], [9, 0], [9, 9]]
STAY = {"dwell_s": 12.0}


def test_wilson_and_newcombe_match_published_values() -> None:
    # Newcombe (1998), Stat Med 17:873, table II: 81/263 -> 0.2553-0.3662; 0/10 -> 0-0.2775
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-4)
    # Newcombe (1998b), Stat Med 17:2635, table II example (a): 56/70 - 48/80 -> 0.0524 to 0.3339
    assert newcombe_diff(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=5e-4)
    # example (e): 10/10 - 0/10 -> 0.6075 to 1.0000
    assert newcombe_diff(10, 10, 0, 10) == pytest.approx((0.6075, 1.0), abs=5e-4)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = list(rng.normal(30, 12, 40)), list(rng.normal(25, 4, 25))
    got = welch_diff(a, b, 0.95)
    ci = st.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_sample_sizes_match_the_textbook_formula_and_a_simulation() -> None:
    # Fleiss: p 0.10 -> 0.15, alpha 0.05 two-sided, power 0.8: 686 per arm
    assert n_per_arm_proportions(0.10, 0.05) == 686
    assert n_per_arm_proportions(0.5, 0.6) is None  # a rate above 1
    assert n_per_arm_means(20.0, 5.0) == 252  # 2 * ((1.96 + 0.8416) * 4)^2
    # the power is real: at n the Newcombe interval excludes 0 in about 80 % of simulated runs
    rng = np.random.default_rng(11)
    n = 686
    hits = 0
    for _ in range(400):
        k1, k0 = int(rng.binomial(n, 0.15)), int(rng.binomial(n, 0.10))
        hits += newcombe_diff(k1, n, k0, n)[0] > 0
    assert 0.72 <= hits / 400 <= 0.88, hits / 400


def _manager(share: float, seed: int) -> PromotionManager:
    cfg = PromotionsConfig.model_validate(
        {
            "holdout_share": share,
            "max_per_display_per_hour": 3600,
            "display_cooldown_s": 0,
            "rules": [{"id": "coffee", "state": "considering", "min_state_s": 0, "display": "endcap"}],
        }
    )
    return PromotionManager("s", cfg, ZoneInfo("UTC"), rng=random.Random(seed))


def test_holdout_is_drawn_at_trigger_time_and_recorded() -> None:
    m = _manager(0.3, seed=4)
    arms = []
    for i in range(2000):
        t = T0.timestamp() + i
        m.on_intent(Event.at(EventType.INTENT_CHANGED, "s", t, subject=f"v{i}", state="considering"))
        for e in m.tick(t):
            assert e.subject is None and e.payload["arm"] in ("treated", "holdout")
            assert e.payload["holdout"] is (e.payload["arm"] == "holdout") and e.payload["holdout_share"] == 0.3
            arms.append(e.payload["holdout"])
        m.on_ended(f"v{i}")
    assert len(arms) == 2000
    share = sum(arms) / len(arms)
    assert abs(share - 0.3) < 3 * (0.3 * 0.7 / 2000) ** 0.5, share
    off = _manager(0.0, seed=4)  # no experiment: every trigger is shown
    off.on_intent(Event.at(EventType.INTENT_CHANGED, "s", T0.timestamp(), subject="v", state="considering"))
    assert [e.payload["arm"] for e in off.tick(T0.timestamp())] == ["treated"]


def test_a_held_out_trigger_is_recorded_but_not_delivered() -> None:
    cfg = ActionsConfig.model_validate(
        {
            "dry_run": False,
            "promotions": {
                "holdout_share": 0.5,
                "display_cooldown_s": 0,
                "rules": [{"id": "p", "state": "considering", "display": "d1", "endpoint": "mqtt", "target": "x/y"}],
            },
        }
    )
    sent: list[Event] = []
    eng = ActionEngine("s", cfg, dispatcher=ActionDispatcher([CallbackEndpoint("mqtt", lambda e, t: sent.append(e))]))
    eng.promotions._rng = random.Random(2)
    out: list[Event] = []
    for i in range(60):
        t = T0.timestamp() + 10 * i
        out += eng.process(t, [Event.at(EventType.INTENT_CHANGED, "s", t, subject=f"v{i}", state="considering")])
    held = [e for e in out if e.payload.get("holdout")]
    assert held and len(held) < len(out)
    assert [e.id for e in sent] == [e.id for e in out if not e.payload["holdout"]]


def test_uplift_verdicts_on_planted_and_absent_effects() -> None:
    rng = np.random.default_rng(9)

    def triggers(n: int, p_t: float, p_h: float, d_t: float, d_h: float) -> list[kx.Trigger]:
        out = []
        for _ in range(n):
            h = bool(rng.random() < 0.3)
            p, d = (p_h, d_h) if h else (p_t, d_t)
            out.append(kx.Trigger("r", T0, h, bool(rng.random() < p), float(rng.exponential(d))))
        return out

    big = kx.uplift("r", triggers(3000, 0.30, 0.15, 60, 40))
    assert big.conversion_verdict == "significant: treated higher"
    assert big.conversion_low is not None and big.conversion_high is not None
    assert big.conversion_low < 0.15 < big.conversion_high
    assert big.dwell_verdict == "significant: treated higher"
    assert big.dwell_low_s is not None and big.dwell_high_s is not None and big.dwell_low_s < 20 < big.dwell_high_s
    small = kx.uplift("r", triggers(30, 0.30, 0.15, 60, 40))
    assert small.conversion_verdict == "not significant yet"
    assert small.conversion_n_per_arm_needed is not None and small.conversion_n_per_arm_needed > 30
    none = kx.uplift("r", [t for t in triggers(50, 0.3, 0.3, 1, 1) if not t.holdout])
    assert none.conversion_uplift is None and "holdout_share" in none.notes["uplift"]


def test_triggers_and_outcomes_are_read_from_stored_events(tmp_path: Path) -> None:
    store = StoreConfig.model_validate(
        {
            "store_id": "s",
            "cameras": [{"id": "c", "source": "x.mp4"}],
            "zones": [
                {
                    "id": "coffee",
                    "kind": "shelf",
                    "camera": "c",
                    "category": "Coffee",
                    "points": [[0, 0], [9, 0], [9, 9]],
                },
                {"id": "tea", "kind": "shelf", "camera": "c", "category": "Tea", "points": [[0, 0], [9, 0], [9, 9]]},
            ],
        }
    )
    rng = random.Random(3)
    events: list[Event] = []
    want = {True: [0, 0], False: [0, 0]}  # holdout -> [n, converted]
    for i in range(200):
        ts = T0 + timedelta(minutes=10 * i)
        held = rng.random() < 0.4
        events.append(
            Event(
                type="promotion.triggered",
                store_id="s",
                ts=ts,
                payload={"rule": "p", "category": "coffee", "holdout": held, "arm": "holdout" if held else "treated"},
            )
        )
        picked = rng.random() < (0.2 if held else 0.5)
        want[held][0] += 1
        if picked:
            want[held][1] += 1
            events.append(Event(type="product.picked", store_id="s", ts=ts + timedelta(seconds=100), zone_id="coffee"))
        # a pick in another category, and one after the window: neither counts
        events.append(Event(type="product.picked", store_id="s", ts=ts + timedelta(seconds=30), zone_id="tea"))
        if not picked:
            events.append(Event(type="product.picked", store_id="s", ts=ts + timedelta(seconds=301), zone_id="coffee"))
        events.append(
            Event(
                type="zone.exited",
                store_id="s",
                ts=ts + timedelta(seconds=60),
                zone_id="coffee",
                payload={"dwell_s": 12.0},
            )
        )
    events.append(Event(type="promotion.triggered", store_id="s", ts=T0, payload={"rule": "p", "category": "shoes"}))
    with open_database(f"sqlite:///{tmp_path / 'e.db'}") as db:
        with db.begin() as conn:
            store_events(conn, events, buckets_s=[3600])
        by_rule, skipped = kx.load_triggers(db, store, T0, T0 + timedelta(days=3), window_s=300)
    assert skipped == 1
    trig = by_rule["p"]
    for held in (True, False):
        arm = [t for t in trig if t.holdout is held]
        assert [len(arm), sum(t.converted for t in arm)] == want[held]
        assert all(t.dwell_s == 12.0 for t in arm)
    up = kx.uplift("p", trig)
    assert up.conversion_verdict == "significant: treated higher"
    assert up.conversion_uplift == pytest.approx(want[False][1] / want[False][0] - want[True][1] / want[True][0])


def test_layout_change_against_a_control_zone_matches_a_hand_calculation() -> None:
    from storelens.kpis.experiments import layout_change

    rng = np.random.default_rng(3)
    t0 = datetime(2025, 3, 3, tzinfo=UTC)
    change = t0 + timedelta(days=14)
    days = []
    for d in range(28):
        season = 1.0 + 0.3 * (d >= 14)  # the whole store got busier after the change too
        zone = rng.poisson(50 * season + (20 if d >= 14 else 0))  # planted: +20 visits/day
        ctrl = rng.poisson(80 * season)
        days.append((t0 + timedelta(days=d), int(zone), int(ctrl)))
    r = layout_change("coffee", "bakery", change, days)
    diff = np.array([z - c for _, z, c in days], float)
    a, b = diff[14:], diff[:14]
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert r.effect == pytest.approx(a.mean() - b.mean())
    assert r.effect_high - r.effect == pytest.approx(r.effect - r.effect_low)  # type: ignore[operator]
    assert (r.effect_high - r.effect) / se == pytest.approx(2.05, abs=0.1)  # type: ignore[operator]
    # 20 planted, minus the season's pull on the zone/control gap (0.3 x (50 - 80) = -9)
    assert r.effect_low < 11 < r.effect_high and r.verdict == "significant: treated higher"  # type: ignore[operator]
    assert r.days_before == r.days_after == 14
    short = layout_change("coffee", "bakery", change, days[12:15])
    assert short.effect is None and "2 days" in short.notes["effect"] and short.verdict == "not measured"
    flat = layout_change("coffee", "bakery", change, [(d, c, c) for d, _, c in days])
    assert flat.effect == 0 and flat.verdict == "not significant yet"
