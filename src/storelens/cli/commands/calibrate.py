"""`storelens calibrate`: fit a camera's image → floor homography from 4+ point pairs.

Pick points you can find both in the camera image and on the floor plan (tile corners, shelf
feet, tape marks), spread over the area you want to measure. The command prints the homography,
the reprojection error of every point (a mistyped pair stands out as the one large error), the
RMS, and the YAML to paste under the camera's ``calibration:``.

``--coverage`` checks a store's camera layout instead: which floor cells each calibrated camera
sees, the floor seen by no camera (gaps), one, or two and more (overlaps), each pair's overlap,
floor zones partly unseen, and a coverage map PNG on the floor plan
(:mod:`storelens.analytics.coverage`). Store-level visits and journeys are only as good as this.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
import yaml

from storelens.analytics.floor import CalibrationError, fit_homography


def _parse_points(text: str, what: str) -> list[tuple[float, float]]:
    """ "x,y x,y ..." or "x,y;x,y" -> pairs, with an error naming the bad token."""
    out: list[tuple[float, float]] = []
    for tok in text.replace(";", " ").split():
        parts = tok.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            out.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise typer.BadParameter(f"{what}: {tok!r} is not 'x,y'") from None
    return out


def _load_pairs(path: Path, camera: str | None) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from None
    if isinstance(data, dict) and "cameras" in data:  # a store config: take the camera's calibration
        cams = [c for c in data.get("cameras") or [] if isinstance(c, dict)]
        cam = next((c for c in cams if camera is None or c.get("id") == camera), None)
        if cam is None or not isinstance(cam.get("calibration"), dict):
            raise typer.BadParameter(f"{path}: no camera {camera or ''} with a calibration")
        data = cam["calibration"]
    if not isinstance(data, dict) or "image_points" not in data or "floor_points" not in data:
        raise typer.BadParameter(f"{path}: expected image_points and floor_points lists")
    try:
        img = [(float(x), float(y)) for x, y in data["image_points"]]
        flr = [(float(x), float(y)) for x, y in data["floor_points"]]
    except (TypeError, ValueError):
        raise typer.BadParameter(f"{path}: points must be [x, y] pairs of numbers") from None
    return img, flr


def _frame_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        raise typer.BadParameter(f"--frame-size: {text!r} is not WIDTHxHEIGHT (e.g. 1280x720)") from None
    if min(size) < 16 or max(size) > 16384:
        raise typer.BadParameter(f"--frame-size: {text!r} is outside 16-16384 pixels")
    return size


def _coverage(config: Path, frame_size: str | None, out: Path) -> None:
    from storelens.analytics.coverage import coverage, render_coverage
    from storelens.analytics.floor import FloorPlan
    from storelens.analytics.heatmap import write_png
    from storelens.cli.errors import config_failed
    from storelens.config import ConfigError, load_config
    from storelens.sources.base import SourceError
    from storelens.sources.probe import probe_frame_size

    try:
        store = load_config(config)
    except ConfigError as exc:
        config_failed(exc, config)
    fixed = _frame_size(frame_size) if frame_size else None
    sizes: dict[str, tuple[int, int]] = {}
    for cam in store.cameras:
        if not cam.enabled:
            continue
        if cam.calibration is None:
            typer.echo(f"{cam.id}: not calibrated, not on the floor (per-camera measures only)")
            continue
        if fixed is not None:
            sizes[cam.id] = fixed
            continue
        try:
            sizes[cam.id] = probe_frame_size(cam)
        except SourceError as exc:
            typer.echo(f"{cam.id}: cannot read a frame ({exc}); give --frame-size WIDTHxHEIGHT", err=True)
            raise typer.Exit(code=2) from None
    if not sizes:
        typer.echo(f"{config}: no calibrated camera; calibrate cameras first", err=True)
        raise typer.Exit(code=2)
    try:
        plan = FloorPlan.from_config(store)
    except FileNotFoundError as exc:
        typer.echo(f"{exc}: the map is drawn on a blank floor", err=True)
        plan = None
    cov = coverage(store, sizes)
    g = cov.grid
    total = g.nx * g.ny * cov.cell_area_m2
    typer.echo(f"floor {g.nx * g.cell:g} x {g.ny * g.cell:g} m in {g.cell:g} m cells, {len(sizes)} calibrated cameras")
    for cam_id, mask in sorted(cov.seen.items()):
        w, h = sizes[cam_id]
        typer.echo(f"  {cam_id} ({w}x{h}): sees {float(mask.sum()) * cov.cell_area_m2:.1f} m²")
    for label, area in (
        ("no camera (gaps)", cov.area_m2(0)),
        ("one camera", cov.area_m2(1)),
        ("two or more (overlaps)", cov.area_m2(2, at_least=True)),
    ):
        typer.echo(f"seen by {label}: {area:.1f} m² ({area / total:.0%})")
    pairs = cov.overlaps()
    typer.echo("overlaps:" if pairs else "overlaps: none (every hand-off crosses a gap or a shared edge)")
    for a, b, area in pairs:
        typer.echo(f"  {a} + {b}: {area:.1f} m²")
    for z in store.zones:
        share = cov.unseen_share(z.points) if z.space == "floor" else None
        if share is not None and share > 0:
            typer.echo(f"zone {z.id}: {share:.0%} of it seen by no camera (its counts and dwell miss that part)")
    typer.echo(f"coverage map: {write_png(out, render_coverage(cov, plan))}")


def calibrate(
    pairs_file: Path | None = typer.Argument(
        None, help="YAML with image_points and floor_points, or a store config (see --camera)"
    ),
    image_points: str | None = typer.Option(None, "--image", help="Image pixels: 'x,y x,y x,y x,y ...'"),
    floor_points: str | None = typer.Option(None, "--floor", help="Floor metres, same order: 'x,y x,y ...'"),
    camera: str | None = typer.Option(None, "--camera", help="Camera id when PAIRS_FILE is a store config"),
    max_rms: float = typer.Option(0.25, help="Fail (exit 3) when the RMS reprojection error exceeds this (m)"),
    check_coverage: bool = typer.Option(
        False, "--coverage", help="PAIRS_FILE is a store config: check which floor cells its cameras see"
    ),
    frame_size: str | None = typer.Option(
        None, "--frame-size", help="With --coverage: every camera's native frame WIDTHxHEIGHT (default: read a frame)"
    ),
    out: Path = typer.Option(Path("coverage.png"), "--out", "-o", help="With --coverage: the coverage map PNG"),
) -> None:
    """Fit and check a camera calibration; print the YAML for the camera's `calibration:`.
    With --coverage, check a store's camera layout: gaps, overlaps and a coverage map."""
    if check_coverage:
        if pairs_file is None:
            raise typer.BadParameter("--coverage needs the store config as PAIRS_FILE")
        _coverage(pairs_file, frame_size, out)
        return
    if pairs_file is not None:
        img, flr = _load_pairs(pairs_file, camera)
    elif image_points and floor_points:
        img, flr = _parse_points(image_points, "--image"), _parse_points(floor_points, "--floor")
    else:
        raise typer.BadParameter("give a PAIRS_FILE, or both --image and --floor")
    try:
        cal = fit_homography(img, flr)
    except CalibrationError as exc:
        typer.echo(f"calibration rejected: {exc}", err=True)
        raise typer.Exit(code=2) from None
    np.set_printoptions(suppress=True, precision=6)
    typer.echo("homography (image px -> floor m):")
    for row in cal.homography:
        typer.echo("  [" + ", ".join(f"{v: .6g}" for v in row) + "]")
    typer.echo("reprojection error per point:")
    for i, ((ix, iy), (fx, fy), err) in enumerate(zip(cal.image_points, cal.floor_points, cal.errors_m, strict=True)):
        typer.echo(f"  {i + 1}: image ({ix:g}, {iy:g}) -> floor ({fx:g}, {fy:g}): {err * 100:.1f} cm")
    typer.echo(f"RMS: {cal.rms_m * 100:.1f} cm over {len(cal.errors_m)} points")
    if len(cal.errors_m) == 4:
        typer.echo("note: 4 pairs fit exactly (0 error); add a 5th+ pair to check the calibration")
    snippet = {"calibration": {"image_points": [list(p) for p in img], "floor_points": [list(p) for p in flr]}}
    typer.echo("\n# paste under the camera in your store YAML:")
    typer.echo(yaml.safe_dump(snippet, default_flow_style=None, sort_keys=False).rstrip())
    if cal.rms_m > max_rms:
        typer.echo(f"RMS {cal.rms_m:.3f} m exceeds --max-rms {max_rms} m: check the point pairs", err=True)
        raise typer.Exit(code=3)


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
