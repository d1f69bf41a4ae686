"""`storelens run STORE.yaml` and `storelens demo`: analyse a store's cameras end to end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from storelens.cli.errors import config_failed, expected_errors, start_failed
from storelens.config import ConfigError, StoreConfig, load_checked, load_config
from storelens.config.schema import CameraConfig
from storelens.pipeline.camera import FrameResult
from storelens.pipeline.run import RunOutputs, run_store
from storelens.sinks.factory import default_out_dir

console = Console(stderr=False)


def demo_config_path() -> Path:
    """The bundled demo store, found next to the source tree (or via $STORELENS_DEMO)."""
    import os

    env = os.environ.get("STORELENS_DEMO")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "examples" / "demo" / "store.yaml"
        if candidate.is_file():
            return candidate
    raise typer.BadParameter("cannot find examples/demo/store.yaml; set STORELENS_DEMO to its path")


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _fmt(value: object, spec: str = "{}") -> str:
    if value is None:
        return "-"
    try:
        return spec.format(value)
    except (TypeError, ValueError):
        return str(value)


def _print_summary(out: RunOutputs) -> None:
    s = out.summary
    visits = s["visits"]
    console.print(f"\n[bold]Store {s['store_id']}[/bold]: {visits['count']} visit(s)")
    for cam_id, cam in s["cameras"].items():
        behaviour = cam["stages"].get("behaviour", {})
        rows = [
            [
                z.get("name", z.get("zone", "?")),
                _fmt(z.get("visits")),
                _fmt(z.get("median_dwell_s"), "{:.1f}"),
                _fmt(z.get("p90_dwell_s"), "{:.1f}"),
                _fmt(z.get("revisits")),
                _fmt(z.get("lingering")),
                _fmt(z.get("peak_occupancy")),
            ]
            for z in behaviour.get("zones", [])
        ]
        console.print(
            _table(
                f"Zones ({cam_id})",
                ["zone", "visits", "median dwell s", "p90 dwell s", "revisits", "lingering", "peak occupancy"],
                rows,
            )
        )
        lines = behaviour.get("lines", [])
        if lines:
            console.print(
                _table("Footfall", ["line", "in", "out"], [[ln["name"], str(ln["in"]), str(ln["out"])] for ln in lines])
            )
        interaction = cam["stages"].get("interaction", {})
        if interaction:
            rows = [
                [
                    zid,
                    str(st["reaches"]),
                    str(st["picks"]),
                    str(st["returns"]),
                    str(st["attention_episodes"]),
                    _fmt(st["attention_s"], "{:.1f}"),
                    str(st["engagements"]),
                ]
                for zid, st in interaction.items()
            ]
            console.print(
                _table(
                    f"Shelves and displays ({cam_id})",
                    ["zone", "reaches", "picks", "returns", "attention", "attention s", "engaged"],
                    rows,
                )
            )
    perf_rows = [
        [
            cam_id,
            str(c["frames_analysed"]),
            str(c["media_s"]),
            str(c["wall_s"]),
            str(c["analysed_fps"]),
            ", ".join(f"{k} {v}" for k, v in c["stage_median_ms"].items()),
        ]
        for cam_id, c in s["cameras"].items()
    ]
    console.print(
        _table("Cameras", ["camera", "frames", "media s", "wall s", "analysed fps", "stage median ms"], perf_rows)
    )
    console.print("\n[bold]Outputs[/bold]")
    where: list[tuple[str, object]] = [("folder", out.out_dir), ("database", out.database_url)]
    if out.events_jsonl:
        where.append(("events (JSONL)", out.events_jsonl))
    where += [(f"video {cam_id}", path) for cam_id, path in out.videos.items()]
    where += [(name.replace("_heatmap_", " heat map "), path) for name, path in out.images.items()]
    where.append(("summary", out.summary_json))
    width = max(len(label) for label, _ in where) + 2
    for label, value in where:
        console.print(f"  {label:<{width}}{value}", soft_wrap=True)
    notice = imagery_notice(out)
    if notice:
        typer.echo(notice, err=True)


def imagery_notice(out: RunOutputs) -> str | None:
    """What ``run`` says whenever it left imagery in the output folder (SECURITY.md, "Imagery").

    The annotated video and the heat maps are ``run``'s product: a store engineer runs it to look
    at them, so they are written even without an encryption key (refusing would leave ``run`` and
    the demo without their main output; encrypting them would leave them unwatchable, storelens has
    no player for its ciphertext). Every frame in them is redacted first, but they are plain files,
    and the person who ran the command must know that, with or without a key."""
    files = [*out.videos.values(), *out.images.values()]
    if not files:
        return None
    return (
        f"note: {len(files)} imagery file(s) above (annotated video, heat maps) are redacted (heads and faces "
        "blurred, privacy masks filled) but NOT encrypted, key or no key; delete them when done, "
        "`--no-video` skips the video (SECURITY.md, Imagery)"
    )


class _FpsCounter:
    """Analysed frames per second since the first frame (what the progress bar shows)."""

    def __init__(self) -> None:
        self.n = 0
        self.t0: float | None = None

    def tick(self) -> float:
        now = time.perf_counter()
        if self.t0 is None:
            self.t0 = now
        self.n += 1
        return self.n / (now - self.t0) if now > self.t0 else 0.0


def _execute(cfg: StoreConfig, out: Path | None, max_frames: int | None, no_video: bool) -> RunOutputs:
    out_dir = out or default_out_dir(cfg)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.1f} fps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not sys.stdout.isatty() and not console.is_terminal,
    )

    def factory(cam: CameraConfig, expected: int | None) -> Callable[[FrameResult], None]:
        total = min(expected, max_frames) if expected and max_frames else expected or max_frames
        task = progress.add_task(cam.id, total=total, fps=0.0)
        counter = _FpsCounter()

        def tick(result: FrameResult) -> None:
            progress.update(task, advance=1, fps=counter.tick())

        return tick

    with progress:
        result = run_store(cfg, out_dir, progress=factory, max_frames=max_frames, annotate=False if no_video else None)
    if progress.disable:
        console.print(f"analysed {sum(s.frames for s in result.stats.values())} frame(s)")
    return result


def run(
    config: Path = typer.Argument(..., help="Store YAML file"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: out/<store_id> beside the YAML)"
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames"),
    no_video: bool = typer.Option(False, "--no-video", help="Skip the annotated video"),
) -> None:
    """Analyse a store's cameras: events to the database and JSONL, annotated video, summary."""
    try:
        # files and camera files are checked before anything starts (live cameras reconnect)
        cfg = load_checked(config, probe=True, offline=True)
    except ConfigError as exc:
        config_failed(exc, config)
    try:
        outputs = _execute(cfg, out, max_frames, no_video)
    except expected_errors() as exc:
        start_failed(f"run {config}", exc)
    _print_summary(outputs)


def demo(
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default examples/demo/out/demo)"),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames"),
) -> None:
    """Run the bundled demo store (a real CC-BY shop clip) end to end, with SQLite; no services needed."""
    cfg = load_config(demo_config_path())
    _print_summary(_execute(cfg, out, max_frames, no_video=False))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
