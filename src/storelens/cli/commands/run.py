"""`storelens run STORE.yaml` and `storelens demo`: analyse a store's cameras end to end.

How a run ends is part of the interface (scripts and service managers read the exit code), and it
always ends with the summary and the outputs of what was analysed, unless the disk is full:

====  ===========================================================================================
0     every camera analysed its source to the end, or SIGTERM stopped the run cleanly
1     nothing could run: a model, the database or the output folder failed, or every camera crashed
2     the store config has problems (every one is listed, as ``storelens validate`` does), among
      them: no enabled camera's source opens
3     some cameras failed (a missing or unreadable file, a crashed pipeline) or a file ended well
      before its announced length (truncated); the other cameras were analysed
4     the disk (or a file-size limit) is full: one line names the file that could not be written
130   Ctrl-C (SIGINT) stopped the run; summary and outputs of what was analysed were written
====  ===========================================================================================

The first SIGINT or SIGTERM asks every camera to stop after its current frame (open visits and
stays are closed, the sinks flushed, heat maps and summary written); a second one aborts at once.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from storelens.cli.errors import config_failed, expected_errors, start_failed
from storelens.config import ConfigError, StoreConfig, load_config
from storelens.config.cameras import CameraConfig
from storelens.config.loader import ConfigIssue
from storelens.core.errors import as_disk_full
from storelens.core.results import FrameResult
from storelens.pipeline.preflight import load_checked
from storelens.pipeline.run import RunOutputs, run_store
from storelens.sinks.factory import default_database_url, default_out_dir

console = Console(stderr=False)

EXIT_OK = 0
EXIT_CANNOT_RUN = 1
EXIT_CAMERAS_FAILED = 3
EXIT_DISK_FULL = 4
EXIT_INTERRUPTED = 130

PROGRESS_LOG_INTERVAL_S = 30.0
"""How often a run whose output is not a terminal prints a progress line per camera."""

_CAMERA_SOURCE = re.compile(r"^cameras\[(\d+)\]\.source$")


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
    for name, d in s.get("delivery", {}).items():
        if d["pending"] or d["dropped"]:  # a broker outage: say what waits and what was lost
            console.print(
                f"{name}: {d['pending']} event(s) not yet acknowledged, kept for the next start; {d['dropped']} dropped"
            )
    console.print("\n[bold]Outputs[/bold]")
    where: list[tuple[str, object]] = [("folder", out.out_dir), ("database", out.database_url)]
    if out.events_jsonl:
        where.append(("events (JSONL)", f"{out.events_jsonl} ({out.events} events)"))
    where += [(f"video {cam_id}", path) for cam_id, path in out.videos.items()]
    where += [(name.replace("_heatmap_", " heat map "), path) for name, path in out.images.items()]
    where.append(("summary", out.summary_json))
    width = max(len(label) for label, _ in where) + 2
    for label, value in where:
        console.print(f"  {label:<{width}}{value}", soft_wrap=True)
    if out.stopped:
        console.print("\n[bold]Stopped[/bold] before the end of the sources: the figures cover what was analysed")
    if out.failed or out.warnings:
        console.print("\n[bold]Problems[/bold]")
        for cam_id, reason in out.failed.items():
            console.print(f"  camera {cam_id} failed: {reason}", soft_wrap=True, markup=False)
        for warning in out.warnings.values():
            console.print(f"  {warning}", soft_wrap=True, markup=False)
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


def progress_ticker(
    progress: Progress,
    camera_id: str,
    total: int | None,
    *,
    interval_s: float = PROGRESS_LOG_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[FrameResult | None], None]:
    """What one camera's analysed frame does to the progress shown: on a terminal the bar moves;
    otherwise (a log, ``make demo > log``) a line goes to stderr at the first frame and then every
    ``interval_s``, so a long run is never silent for minutes."""
    task = progress.add_task(camera_id, total=total, fps=0.0)
    counter = _FpsCounter()
    last_line: list[float | None] = [None]

    def tick(result: FrameResult | None) -> None:
        fps = counter.tick()
        progress.update(task, advance=1, fps=fps)
        if progress.disable:
            now = clock()
            if last_line[0] is None or now - last_line[0] >= interval_s:
                last_line[0] = now
                of = f"/{total}" if total else ""
                print(f"{camera_id}: {counter.n}{of} frames analysed, {fps:.1f} fps", file=sys.stderr, flush=True)

    return tick


@contextmanager
def _stop_on_signals(stop: threading.Event, received: list[signal.Signals]) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the cameras finish their frame and the run writes its
    outputs) and are recorded in ``received``; a second signal gets the previous behaviour (abort).
    Only the main thread may install handlers: elsewhere (tests calling in-process) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signals}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        received.append(sig)
        restore()  # a second signal: stop now
        print(
            f"{sig.name}: stopping after the current frame, then writing the summary and outputs (again to abort)",
            file=sys.stderr,
            flush=True,
        )
        stop.set()

    for s in signals:
        signal.signal(s, on_signal)
    try:
        yield
    finally:
        restore()


def _execute(
    cfg: StoreConfig,
    out: Path | None,
    max_frames: int | None,
    no_video: bool,
    *,
    unavailable: dict[str, str] | None = None,
    received: list[signal.Signals] | None = None,
) -> RunOutputs:
    out_dir = out or default_out_dir(cfg)
    stop = threading.Event()
    received = received if received is not None else []
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
        return progress_ticker(progress, cam.id, total)

    with _stop_on_signals(stop, received), progress:
        result = run_store(
            cfg,
            out_dir,
            progress=factory,
            max_frames=max_frames,
            annotate=False if no_video else None,
            stop=stop,
            unavailable=unavailable,
        )
    if progress.disable:
        console.print(f"analysed {sum(s.frames for s in result.stats.values())} frame(s)")
    return result


def _unavailable_cameras(exc: ConfigError, config: Path) -> tuple[StoreConfig, dict[str, str]]:
    """When the only problems are camera sources that do not open, the store runs without those
    cameras: the config and camera id -> reason. Any other problem ends here (exit 2)."""
    by_index: dict[int, ConfigIssue] = {}
    for issue in exc.issues:
        m = _CAMERA_SOURCE.match(issue.field)
        if m is None:
            config_failed(exc, config)
        by_index.setdefault(int(m.group(1)), issue)
    try:
        cfg = load_config(config)
    except ConfigError:
        config_failed(exc, config)
    enabled = {i for i, c in enumerate(cfg.cameras) if c.enabled}
    if enabled <= set(by_index):  # no camera would run: a config problem like any other
        config_failed(exc, config)
    unavailable: dict[str, str] = {}
    for i, issue in sorted(by_index.items()):
        cam = cfg.cameras[i]
        if cam.enabled:
            unavailable[cam.id] = issue.message
            typer.echo(f"{issue.file}:{issue.line}: camera {cam.id} will not run: {issue.message}", err=True)
    return cfg, unavailable


def _run_and_report(
    what: str,
    cfg: StoreConfig,
    out: Path | None,
    max_frames: int | None,
    no_video: bool,
    unavailable: dict[str, str] | None = None,
) -> None:
    """Run, print the summary, and exit with the code the module docstring documents."""
    received: list[signal.Signals] = []
    try:
        outputs = _execute(cfg, out, max_frames, no_video, unavailable=unavailable, received=received)
    except expected_errors() as exc:
        full = as_disk_full(exc, cfg.output.database_url or default_database_url(out or default_out_dir(cfg)))
        if full is not None:
            typer.echo(f"cannot {what}: {full}; free some space and run again", err=True)
            raise typer.Exit(code=EXIT_DISK_FULL) from None
        start_failed(what, exc)
    _print_summary(outputs)
    for cam_id, reason in outputs.failed.items():
        typer.echo(f"camera {cam_id} failed: {reason}", err=True)
    for warning in outputs.warnings.values():
        typer.echo(f"warning: {warning}", err=True)
    if signal.SIGINT in received:
        raise typer.Exit(code=EXIT_INTERRUPTED)
    if not outputs.ran:
        typer.echo(f"cannot {what}: no camera could be analysed", err=True)
        raise typer.Exit(code=EXIT_CANNOT_RUN)
    if outputs.failed or outputs.warnings:
        raise typer.Exit(code=EXIT_CAMERAS_FAILED)


def run(
    config: Path = typer.Argument(..., help="Store YAML file"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: out/<store_id> beside the YAML)"
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames"),
    no_video: bool = typer.Option(False, "--no-video", help="Skip the annotated video"),
) -> None:
    """Analyse a store's cameras: events to the database and JSONL, annotated video, summary.

    Exit codes: 0 done (or stopped by SIGTERM), 1 nothing could run, 2 config problems, 3 some
    cameras failed or a file ended early (the others were analysed), 4 disk full, 130 Ctrl-C.
    """
    unavailable: dict[str, str] = {}
    try:
        # files and camera files are checked before anything starts (live cameras reconnect)
        cfg = load_checked(config, probe=True, offline=True)
    except ConfigError as exc:
        cfg, unavailable = _unavailable_cameras(exc, config)
    _run_and_report(f"run {config}", cfg, out, max_frames, no_video, unavailable)


def demo(
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default examples/demo/out/demo)"),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames"),
) -> None:
    """Run the bundled demo store (a real CC-BY shop clip) end to end, with SQLite; no services needed."""
    cfg = load_config(demo_config_path())
    _run_and_report("run the demo", cfg, out, max_frames, no_video=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
