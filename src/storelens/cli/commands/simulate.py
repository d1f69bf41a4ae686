"""`storelens simulate`: a simulated store day through the intent engine and actions, no video.

Shoppers with scripted intent walk the demo store (or the floor zones of a store config); their
observations (optionally with tracker noise) drive the real intent engine and action rules. Prints
what was inferred against the ground truth and what actions fired; writes every event as JSONL.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer

from storelens.config import ConfigError, load_config
from storelens.config.actions import ActionsConfig, PromotionRuleConfig, PromotionsConfig
from storelens.config.intent import IntentStateName
from storelens.config.store import StoreConfig
from storelens.events.payloads import IntentChanged, typed

DEMO_PROMOTIONS = [
    PromotionRuleConfig(
        id="coffee-offer", state=IntentStateName.CONSIDERING, category="Coffee", min_state_s=20, display="coffee-endcap"
    ),
    PromotionRuleConfig(
        id="tv-demo", state=IntentStateName.CONSIDERING, category="Electronics", min_state_s=30, display="tv-wall"
    ),
]


def simulate(
    shoppers: int = typer.Option(30, "--shoppers", min=0, max=100000, help="Shopper visits to simulate"),
    minutes: float = typer.Option(10.0, "--minutes", min=0.5, max=1440, help="Length of the simulated period"),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (same seed, same store day)"),
    noise: bool = typer.Option(False, "--noise", help="Inject tracker, interaction and expression noise"),
    out: Path | None = typer.Option(None, "--out", help="Write events.jsonl, truth.jsonl, summary.json here"),
    config: Path | None = typer.Option(None, "--config", help="Store YAML: its floor zones, intent, actions"),
    fps: float = typer.Option(5.0, "--fps", min=0.5, max=30, help="Analysed frames per second"),
    staff: int = typer.Option(1, "--staff", min=0, max=100, help="Staff members walking the floor"),
    live: bool = typer.Option(False, "--live", help="Deliver actions to their endpoints (default: dry run)"),
    fit_weights: Path | None = typer.Option(
        None, "--fit-weights", help="Fit learned intent weights on this run's ground truth; save JSON here"
    ),
) -> None:
    """Simulate shoppers, infer their intent, trigger actions; summarise and write events."""
    from storelens.actions.dispatcher import ActionEngine
    from storelens.intent.engine import IntentEngine
    from storelens.sim.evaluation import evaluate
    from storelens.sim.layout import StoreLayout
    from storelens.sim.noise import NoiseConfig
    from storelens.sim.runner import SimConfig, run_simulation

    store: StoreConfig | None = None
    if config is not None:
        try:
            store = load_config(config)
            layout = StoreLayout.from_config(store)
        except ConfigError as exc:
            for issue in exc.issues:
                typer.echo(str(issue), err=True)
            raise typer.Exit(code=2) from None
        except ValueError as exc:
            typer.echo(f"{config}: cannot simulate this store: {exc}", err=True)
            raise typer.Exit(code=2) from None
    else:
        layout = StoreLayout.demo()
        store = layout.store_config()
        store.actions = ActionsConfig(promotions=PromotionsConfig(rules=DEMO_PROMOTIONS))
    actions_cfg = store.actions.model_copy(update={"dry_run": store.actions.dry_run or not live})
    cfg = SimConfig(
        shoppers=shoppers,
        minutes=minutes,
        seed=seed,
        fps=fps,
        noise=NoiseConfig.realistic() if noise else NoiseConfig.off(),
        staff=staff,
        store_id=store.store_id,
    )
    engine = IntentEngine(store.store_id, store.intent, zones=layout.zones, base_dir=store.base_dir)
    action_engine = ActionEngine(store.store_id, actions_cfg, timezone=store.timezone, zones=layout.zones)
    result = run_simulation(
        layout,
        cfg,
        {"storelens": engine},
        {"storelens": action_engine},
        store=store,
        feature_every_s=1.0 if fit_weights is not None else None,
        feature_source=engine.features if fit_weights is not None else None,
    )
    report = evaluate(result, "storelens")
    produced = result.outputs["storelens"]
    reached: Counter[str] = Counter()
    for e in produced:
        changed = typed(e, IntentChanged)
        if changed is not None and not changed.category_change:
            reached[str(changed.state)] += 1
    actions = Counter(e.type for e in produced if ActionEngine.is_action(e))
    scripts = Counter(p.script for p in result.plans)
    summary = {
        "seed": seed,
        "noise": noise,
        "shoppers": shoppers,
        "staff": staff,
        "simulated_s": round(result.sim_seconds, 1),
        "wall_s": round(result.wall_seconds, 2),
        "speedup": round(result.speedup, 1),
        "scripts": dict(scripts),
        "states_entered": dict(reached),
        "actions": dict(actions),
        "primary_accuracy": round(report.accuracy, 3),
        "primary_macro_f1": round(report.macro_f1, 3),
        "median_delay_s": None if not report.all_delays else round(report.median_delay, 2),
        "alert_precision": None if not report.alerts else round(report.alert_precision, 3),
        "observation_idf1": round(result.idf1, 3),
        "dry_run": actions_cfg.dry_run,
    }
    _print(summary)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        events = sorted([*result.observed, *produced], key=lambda e: e.ts)
        with (out / "events.jsonl").open("w", encoding="utf-8") as fh:
            for e in events:
                fh.write(json.dumps(e.to_json_dict(), separators=(",", ":")) + "\n")
        with (out / "truth.jsonl").open("w", encoding="utf-8") as fh:
            subjects: dict[int, list[str]] = {}
            for lbl, owner in result.owner.items():
                subjects.setdefault(owner, []).append(lbl)
            for p in result.plans:
                fh.write(
                    json.dumps(
                        {
                            "shopper": p.shopper,
                            "script": p.script,
                            "staff": p.staff,
                            "primary": None if p.primary is None else str(p.primary),
                            "category": p.category,
                            "arrive_ts": round(result.wall(p.traj.start), 3),
                            "leave_ts": round(result.wall(p.end), 3),
                            "phases": [
                                {"state": str(ph.state), "ts": round(result.wall(ph.start), 3), "category": ph.category}
                                for ph in p.phases
                            ],
                            "subjects": sorted(subjects.get(p.shopper, [])),
                        }
                    )
                    + "\n"
                )
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {len(events)} events to {out / 'events.jsonl'}")
    if fit_weights is not None:
        if result.training is None:
            typer.echo("no labelled samples to fit on (no shopper visits?)", err=True)
            raise typer.Exit(code=1)
        from storelens.intent.calibration import fit_calibration

        x, y = result.training
        cal = fit_calibration(x, y, meta={"source": f"storelens simulate seed {seed}", "noise": noise})
        cal.save(fit_weights)
        typer.echo(f"fitted weights on {len(y)} labelled samples -> {fit_weights}")


def _print(summary: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"storelens simulate (seed {summary['seed']}, noise {'on' if summary['noise'] else 'off'})")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for key in ("shoppers", "staff", "simulated_s", "wall_s", "speedup", "observation_idf1"):
        t.add_row(key, str(summary[key]))
    for key in ("primary_accuracy", "primary_macro_f1", "median_delay_s", "alert_precision"):
        t.add_row(key, str(summary[key]))
    console.print(t)
    for title, key in (
        ("scripts (ground truth)", "scripts"),
        ("states entered", "states_entered"),
        ("actions", "actions"),
    ):
        table = Table(title=title + (" [dry run]" if key == "actions" and summary["dry_run"] else ""))
        table.add_column("name")
        table.add_column("count", justify="right")
        data = summary[key]
        assert isinstance(data, dict)
        for name, n in sorted(data.items(), key=lambda kv: -kv[1]):
            table.add_row(str(name), str(n))
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
