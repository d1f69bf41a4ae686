"""`storelens calibrate`: fit a camera's image → floor homography from 4+ point pairs.

Pick points you can find both in the camera image and on the floor plan (tile corners, shelf
feet, tape marks), spread over the area you want to measure. The command prints the homography,
the reprojection error of every point (a mistyped pair stands out as the one large error), the
RMS, and the YAML to paste under the camera's ``calibration:``.
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


def calibrate(
    pairs_file: Path | None = typer.Argument(
        None, help="YAML with image_points and floor_points, or a store config (see --camera)"
    ),
    image_points: str | None = typer.Option(None, "--image", help="Image pixels: 'x,y x,y x,y x,y ...'"),
    floor_points: str | None = typer.Option(None, "--floor", help="Floor metres, same order: 'x,y x,y ...'"),
    camera: str | None = typer.Option(None, "--camera", help="Camera id when PAIRS_FILE is a store config"),
    max_rms: float = typer.Option(0.25, help="Fail (exit 3) when the RMS reprojection error exceeds this (m)"),
) -> None:
    """Fit and check a camera calibration; print the YAML for the camera's `calibration:`."""
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
