"""`storelens expressions --list FILE --out OUT.csv`: read the facial expression of still images.

For measuring the expression path on labelled face sets: every listed image goes through
:func:`storelens.analytics.emotion.read_still` with the EmotionConfig defaults, the path chosen by
subject-wise cross-validation (``bench/expression_cv.py``): an image that is already a tight face
crop (small and square, or a detected face filling it) is read whole, unaligned; otherwise a sure
detection (BlazeFace) is eye-aligned and an unsure one read whole; flip averaging and a calibrated
confidence throughout. One ``path,label,confidence`` row is written per readable image, the label
among angry, disgust, fear, happy, sad, surprise, neutral, or ``uncertain`` when the calibrated
confidence is below ``emotion.min_confidence`` (``--no-abstain`` always names a class). Nothing but
the labels is written.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import typer

from storelens.analytics.emotion import read_still
from storelens.config.emotion import EmotionConfig
from storelens.vision.expressions import UNCERTAIN, ExpressionClassifier
from storelens.vision.faces import FaceDetector, FaceModel


def read_list(path: Path) -> list[str]:
    """Image paths from a list file: one per line (blank lines and ``#`` comments skipped), or a
    CSV whose header has a ``path`` column (e.g. a labels file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read list file {path}: {exc}") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if lines and "," in lines[0] and "path" in [c.strip() for c in lines[0].split(",")]:
        rows = csv.DictReader(lines)
        return [r["path"].strip() for r in rows if r.get("path")]
    return lines


def resolve_image(entry: str, list_dir: Path) -> Path:
    """A relative entry is looked up next to the list file first, then in the working directory."""
    p = Path(entry).expanduser()
    if p.is_absolute():
        return p
    beside = list_dir / p
    return beside if beside.exists() else p


def expressions(
    list_file: Path = typer.Option(..., "--list", help="Text file of image paths (or a CSV with a 'path' column)"),
    out: Path = typer.Option(..., "--out", help="Output CSV: path,label"),
    threads: int = typer.Option(0, min=0, max=64, help="onnxruntime threads (0 = all cores)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    no_abstain: bool = typer.Option(False, "--no-abstain", help="Always name a class (never 'uncertain')"),
) -> None:
    """Write the facial expression of each listed image (one of 7 FER labels) to a CSV."""
    entries = read_list(list_file)
    if not entries:
        raise typer.BadParameter(f"{list_file} lists no images")
    cfg = EmotionConfig()
    if no_abstain:
        cfg = cfg.model_copy(update={"min_confidence": 0.0})
    variants: tuple[FaceModel, ...] = ("short_range", "full_range")
    detectors = [FaceDetector(v, threads=threads, device=device) for v in variants]
    classifier = ExpressionClassifier(
        flip_weight=cfg.flip_weight if cfg.flip_average else 0.0, threads=threads, device=device
    )
    rows: list[tuple[str, str, str]] = []
    failed: list[str] = []
    whole = uncertain = 0
    for entry in entries:
        path = resolve_image(entry, list_file.parent)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            failed.append(entry)
            typer.echo(
                f"{entry}: cannot read image ({'not a file' if not path.is_file() else 'not decodable'})", err=True
            )
            continue
        reading = read_still(np.asarray(image, np.uint8), detectors, classifier, cfg)
        whole += reading.whole_image
        uncertain += reading.label == UNCERTAIN
        rows.append((entry, reading.label, f"{reading.confidence:.3f}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    # write to a temporary file and rename, so an interrupted run never leaves a half CSV behind
    fd, tmp = tempfile.mkstemp(prefix=".expressions-", suffix=".csv", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label", "confidence"])
            w.writerows(rows)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    typer.echo(
        f"{out}: {len(rows)} image(s) labelled ({whole} read whole, unaligned; {uncertain} uncertain); "
        f"{len(failed)} unreadable"
    )
    if failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("expressions")(expressions)
