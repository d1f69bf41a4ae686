"""Subject-wise cross-validation of the expression path against the plain model (issue 19).

Every face set under ../shared/data/faces (a ``labels_*.csv`` with ``path`` and ``label``
columns; research use only, read in place, nothing derived is written) is split into K folds by
subject, so no person is in both the folds that tune and the fold that scores. On the tune folds
the preprocessing is chosen (plain centre crop or eye-aligned crop and its margin, flip averaging,
fallback to the plain crop when the face box already fills the image or the detection score is
low) and a softmax temperature is fitted; the held-out fold is then scored for both the plain
model and the chosen path. Abstention: a risk-coverage table (accuracy of the most confident
x % of the held-out faces, calibrated confidence) for both.

    .venv/bin/python bench/expression_cv.py [--folds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from storelens.vision.expressions import EXPRESSION_LABELS, ExpressionClassifier
from storelens.vision.face_align import AlignParams, align_faces, plain_crop
from storelens.vision.faces import FKP, FaceDetector

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
MARGINS = (0.9, 1.0, 1.1, 1.2)
TIGHT = (None, 0.8, 0.9)  # face box side / image side at or above which the input is a tight crop
MIN_SCORE = (0.5, 0.75)  # detection score below which the alignment is unsure
COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.5)
TEMPERATURES = tuple(np.round(np.arange(0.5, 3.01, 0.1), 2))
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FaceSet:
    name: str
    images: list[npt.NDArray[np.uint8]]
    y: npt.NDArray[np.int64]
    subjects: list[str]


@dataclass(frozen=True)
class Choice:
    margin: float | None  # None = plain crop always
    flip: bool
    tight: float | None
    min_score: float

    def __str__(self) -> str:
        if self.margin is None:
            return "plain crop" + (" + flip" if self.flip else "")
        fb = f", plain if face >= {self.tight:.0%} of image" if self.tight else ""
        return f"aligned, margin {self.margin}{' + flip' if self.flip else ''}, plain if score < {self.min_score}{fb}"


def subject_of(path: str) -> str:
    """CK+ style ``S010_004_...`` names carry the subject; otherwise each file is its own subject
    (stated in the output: then the split is image-wise)."""
    m = re.match(r"(S\d{3})_", Path(path).name)
    return m.group(1) if m else path


def load_sets() -> list[FaceSet]:
    out = []
    for labels in sorted(FACES.glob("labels_*.csv")):
        images, y, subjects = [], [], []
        for r in csv.DictReader(labels.open()):
            if r["label"] not in EXPRESSION_LABELS:
                continue  # e.g. CK+ contempt: no FER2013 class
            rel = Path(r["path"])
            cand = [FACES / rel, *(FACES / Path(*rel.parts[k:]) for k in range(1, len(rel.parts)))]
            path = next((p for p in cand if p.is_file()), None)
            img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path else None
            if img is None:
                raise SystemExit(f"{labels.name}: cannot read {r['path']}")
            images.append(np.asarray(img, np.uint8))
            y.append(EXPRESSION_LABELS.index(r["label"]))
            subjects.append(subject_of(r["path"]))
        out.append(FaceSet(labels.stem.removeprefix("labels_"), images, np.asarray(y), subjects))
    return out


def features(fs: FaceSet, clf: ExpressionClassifier, det: FaceDetector) -> dict[str, Array]:
    """Every candidate's probabilities, computed once: plain / flipped plain, aligned / flipped
    aligned per margin, and the detection's score and size relative to the image."""
    n = len(fs.images)
    gray = [cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) for i in fs.images]
    plain = np.stack([plain_crop(g) for g in gray])
    f: dict[str, Array] = {
        "plain": clf.predict(plain).astype(np.float64),
        "plain_flip": clf.predict(np.ascontiguousarray(plain[:, :, ::-1])).astype(np.float64),
    }
    score, frac = np.zeros(n), np.zeros(n)
    aligned = {m: np.zeros((n, 64, 64), np.uint8) for m in MARGINS}
    for k, img in enumerate(fs.images):
        faces = det.detect(img)
        if not len(faces):
            for m in MARGINS:
                aligned[m][k] = plain[k]
            continue
        b = faces[int(np.argmax(faces.score * faces.size_px))]
        score[k] = float(b.score[0])
        frac[k] = float(b.size_px[0]) / min(img.shape[:2])
        eyes = (b.keypoints[:, FKP["right_eye"]], b.keypoints[:, FKP["left_eye"]])
        for m in MARGINS:
            aligned[m][k] = align_faces(img, b.xyxy, *eyes, AlignParams(margin=m))[0]
    for m in MARGINS:
        f[f"al{m}"] = clf.predict(aligned[m]).astype(np.float64)
        f[f"al{m}_flip"] = clf.predict(np.ascontiguousarray(aligned[m][:, :, ::-1])).astype(np.float64)
    f["score"], f["frac"] = score, frac
    return f


def probs_for(c: Choice, f: dict[str, Array]) -> Array:
    plain = (f["plain"] + f["plain_flip"]) / 2 if c.flip else f["plain"]
    if c.margin is None:
        return plain
    al = (f[f"al{c.margin}"] + f[f"al{c.margin}_flip"]) / 2 if c.flip else f[f"al{c.margin}"]
    use_plain = f["score"] < c.min_score
    if c.tight is not None:
        use_plain |= f["frac"] >= c.tight
    return np.where(use_plain[:, None], plain, al)


def choices() -> list[Choice]:
    out = [Choice(None, flip, None, 0.5) for flip in (False, True)]
    for m, flip, t, s in itertools.product(MARGINS, (False, True), TIGHT, MIN_SCORE):
        out.append(Choice(m, flip, t, s))
    return out


def macro_f1(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64]) -> float:
    f1 = []
    for c in np.unique(y):
        tp = float(((y == c) & (pred == c)).sum())
        prec, rec = tp / max(float((pred == c).sum()), 1.0), tp / float((y == c).sum())
        f1.append(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
    return float(np.mean(f1))


def calibrate(p: Array, t: float) -> Array:
    z = np.log(np.maximum(p, 1e-12)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_temperature(p: Array, y: npt.NDArray[np.int64]) -> float:
    """The temperature minimising the negative log-likelihood (a 1-D grid is enough)."""
    nll = [-np.log(calibrate(p, t)[np.arange(len(y)), y] + 1e-12).mean() for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


def accuracy_at(conf: Array, correct: npt.NDArray[np.bool_], coverage: float) -> float:
    k = max(1, round(coverage * len(conf)))
    return float(correct[np.argsort(-conf, kind="stable")[:k]].mean())


def cross_validate(fs: FaceSet, f: dict[str, Array], folds: int) -> None:
    subj = sorted(set(fs.subjects))
    fold_of = {s: k % folds for k, s in enumerate(subj)}
    fold = np.asarray([fold_of[s] for s in fs.subjects])
    cands = choices()
    split = "subject-wise" if len(subj) < len(fs.subjects) else "image-wise (no subject ids in the file names)"
    print(f"\n## {fs.name}: {len(fs.y)} faces, {len(subj)} subjects, {folds} folds {split}\n")
    print("| fold | test faces | plain acc | path acc | plain macro-F1 | path macro-F1 | T plain | T path | chosen |")
    print("|---|---|---|---|---|---|---|---|---|")
    held_plain, held_path = np.zeros((len(fs.y), 7)), np.zeros((len(fs.y), 7))
    worse = 0
    for k in range(folds):
        tune, test = fold != k, fold == k
        yt = fs.y[tune]

        def tune_score(
            c: Choice, tune: npt.NDArray[np.bool_] = tune, yt: npt.NDArray[np.int64] = yt
        ) -> tuple[float, float, int]:
            pred = probs_for(c, f)[tune].argmax(1)
            return (float((pred == yt).mean()), macro_f1(yt, pred), -int(c.flip) - (c.margin is not None))

        best = max(cands, key=tune_score)
        plain_p, path_p = f["plain"], probs_for(best, f)
        t_plain, t_path = fit_temperature(plain_p[tune], yt), fit_temperature(path_p[tune], yt)
        held_plain[test], held_path[test] = calibrate(plain_p[test], t_plain), calibrate(path_p[test], t_path)
        ys = fs.y[test]
        bp, pp = held_plain[test].argmax(1), held_path[test].argmax(1)
        ab, ap = float((bp == ys).mean()), float((pp == ys).mean())
        worse += ap < ab
        print(
            f"| {k} | {int(test.sum())} | {ab:.1%} | {ap:.1%} | {macro_f1(ys, bp):.3f} | {macro_f1(ys, pp):.3f} "
            f"| {t_plain} | {t_path} | {best} |"
        )
    bp, pp = held_plain.argmax(1), held_path.argmax(1)
    print(
        f"| all | {len(fs.y)} | {(bp == fs.y).mean():.1%} | {(pp == fs.y).mean():.1%} | {macro_f1(fs.y, bp):.3f} "
        f"| {macro_f1(fs.y, pp):.3f} | | | |"
    )
    print(f"\nfolds where the path scored below the plain model: {worse} of {folds}")
    print("\nRisk-coverage (held-out faces, calibrated top probability; accuracy of the most confident x %):\n")
    print("| coverage | plain acc | path acc | path confidence threshold |")
    print("|---|---|---|---|")
    for cov in COVERAGES:
        conf_p = held_path.max(1)
        thr = float(np.sort(conf_p)[::-1][max(1, round(cov * len(conf_p))) - 1])
        print(
            f"| {cov:.0%} | {accuracy_at(held_plain.max(1), bp == fs.y, cov):.1%} "
            f"| {accuracy_at(conf_p, pp == fs.y, cov):.1%} | {thr:.2f} |"
        )


def timing(fs: FaceSet, clf: ExpressionClassifier, flip_clf: ExpressionClassifier, det: FaceDetector) -> None:
    """Per face, batch of one, from the BGR image: plain = grey + resize + model; path = BlazeFace +
    alignment + model with flip averaging (the chosen default)."""
    imgs = fs.images[:200]
    t_plain, t_path = [], []
    for rep in range(2):
        for img in imgs:
            t0 = time.perf_counter()
            clf.predict(plain_crop(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))[None])
            t1 = time.perf_counter()
            faces = det.detect(img)
            if len(faces):
                b = faces[int(np.argmax(faces.score * faces.size_px))]
                eyes = (b.keypoints[:, FKP["right_eye"]], b.keypoints[:, FKP["left_eye"]])
                flip_clf.predict(align_faces(img, b.xyxy, *eyes))
            t2 = time.perf_counter()
            if rep:
                t_plain.append(t1 - t0)
                t_path.append(t2 - t1)
    a, b = float(np.median(t_plain)) * 1000, float(np.median(t_path)) * 1000
    print(f"\ntime per face (median of {len(imgs)}): plain {a:.2f} ms, path {b:.2f} ms, ratio {b / a:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sets = load_sets() if FACES.is_dir() else []
    if not sets:
        raise SystemExit(f"no face sets (labels_*.csv) under {FACES}")
    clf = ExpressionClassifier(threads=args.threads, device="cpu")
    flip_clf = ExpressionClassifier(flip_average=True, threads=args.threads, device="cpu")
    det = FaceDetector("short_range", threads=args.threads, device="cpu")
    for fs in sets:
        cross_validate(fs, features(fs, clf, det), args.folds)
        timing(fs, clf, flip_clf, det)


if __name__ == "__main__":
    main()
