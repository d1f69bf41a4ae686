"""Subject-wise cross-validation of the expression path against the plain model (issue 19).

Every face set under ../shared/data/faces (a ``labels_*.csv`` with ``path`` and ``label``
columns; research use only, read in place, nothing derived is written) is split into K folds by
subject, so no person is in both the folds that tune and the fold that scores. On the tune folds
the preprocessing is chosen (plain centre crop or eye-aligned crop and its margin, flip averaging
and its weight, fallback to the plain crop when the face box already fills the image, the image
is a small square crop or the detection score is low; ranked by the worst gain over the plain
model across the tune folds) and a softmax temperature is fitted; the held-out fold is then
scored for the plain model, the tuned choice and the shipped default (``read_still`` with the
EmotionConfig defaults). Abstention: a risk-coverage table (accuracy of the most confident
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

from storelens.analytics.emotion import is_tight_crop, read_still
from storelens.config.emotion import EmotionConfig
from storelens.vision.expressions import EXPRESSION_LABELS, ExpressionClassifier
from storelens.vision.face_align import AlignParams, align_faces, plain_crop
from storelens.vision.faces import FKP, FaceDetector

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
MARGINS = (0.9, 1.0, 1.1, 1.2)
TIGHT = (None, 0.8, 0.9)  # face box side / image side at or above which the input is a tight crop
FLIP_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5)  # weight of the mirrored crop's probabilities (0 = no flip)
SMALL = (False, True)  # True: a small square image (emotion.tight_crop_px) is a tight crop, read whole
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
    flip: float  # weight of the mirrored crop
    tight: float | None
    min_score: float
    small: bool = False

    def __str__(self) -> str:
        if self.margin is None:
            return "plain crop" + (f" + flip {self.flip}" if self.flip else "")
        fb = f", plain if face >= {self.tight:.0%} of image" if self.tight else ""
        sm = ", plain if small square image" if self.small else ""
        return (
            f"aligned, margin {self.margin}{f' + flip {self.flip}' if self.flip else ''}, plain if score < "
            f"{self.min_score}{fb}{sm}"
        )


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
    f["small"] = np.asarray([is_tight_crop(i.shape, EmotionConfig()) for i in fs.images], np.float64)
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
    plain = (1 - c.flip) * f["plain"] + c.flip * f["plain_flip"]
    if c.margin is None:
        return plain
    al = (1 - c.flip) * f[f"al{c.margin}"] + c.flip * f[f"al{c.margin}_flip"]
    use_plain = f["score"] < c.min_score
    if c.tight is not None:
        use_plain |= f["frac"] >= c.tight
    if c.small:
        use_plain |= f["small"] > 0
    return np.where(use_plain[:, None], plain, al)


def choices() -> list[Choice]:
    out = [Choice(None, flip, None, 0.5) for flip in FLIP_WEIGHTS]
    for m, flip, t, s, sm in itertools.product(MARGINS, FLIP_WEIGHTS, TIGHT, MIN_SCORE, SMALL):
        out.append(Choice(m, flip, t, s, sm))
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


def default_path(fs: FaceSet, det: list[FaceDetector], flip_clf: ExpressionClassifier) -> Array:
    """Uncalibrated probabilities of what ships: ``read_still`` with the default EmotionConfig
    (temperature 1 here: the folds fit their own)."""
    cfg = EmotionConfig(temperature=1.0, min_confidence=0.0)  # flip weight etc. as shipped
    return np.stack([read_still(img, det, flip_clf, cfg).probs.astype(np.float64) for img in fs.images])


def cross_validate(fs: FaceSet, f: dict[str, Array], folds: int, default: Array) -> dict[str, float]:
    """Prints the per-fold table and the risk-coverage table; returns the summary figures
    (overall accuracies, folds where the default is below plain, median temperature)."""
    subj = sorted(set(fs.subjects))
    fold_of = {s: k % folds for k, s in enumerate(subj)}
    fold = np.asarray([fold_of[s] for s in fs.subjects])
    cands = choices()
    cfg = EmotionConfig()
    split = "subject-wise" if len(subj) < len(fs.subjects) else "image-wise (no subject ids in the file names)"
    print(f"\n## {fs.name}: {len(fs.y)} faces, {len(subj)} subjects, {folds} folds {split}\n")
    print(
        "plain = the model on the whole image resized (the `fer` way); tuned = the preprocessing chosen on the "
        "tune folds; default = what `storelens expressions` / read_still ships (EmotionConfig defaults)\n"
    )
    print(
        "| fold | test faces | plain acc | tuned acc | flip-tuned acc | default acc | plain macro-F1 | tuned macro-F1 "
        "| flip-tuned macro-F1 | default macro-F1 | T plain | T default | chosen on tune folds (tuned; flip-tuned) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    n = len(fs.y)
    held = {k: np.zeros((n, 7)) for k in ("plain", "tuned", "flip", "default")}
    worse = {"tuned": 0, "flip": 0, "default": 0}
    abstain_rows = []
    temps: list[float] = []
    for k in range(folds):
        tune, test = fold != k, fold == k
        yt = fs.y[tune]

        inner = [fold == j for j in range(folds) if j != k]
        plain_inner = [(f["plain"][m].argmax(1), fs.y[m]) for m in inner]

        def tune_score(
            c: Choice,
            tune: npt.NDArray[np.bool_] = tune,
            yt: npt.NDArray[np.int64] = yt,
            inner: list[npt.NDArray[np.bool_]] = inner,
            plain_inner: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = plain_inner,
        ) -> tuple[float, float, int]:
            # The bar is "never below the plain model on any fold", so a candidate is
            # ranked by its worst gain over plain across the tune folds (accuracy or macro-F1,
            # whichever is lower), then by its tune accuracy, then by simplicity.
            p = probs_for(c, f)
            gains = []
            for m, (pp, ym) in zip(inner, plain_inner, strict=True):
                pc = p[m].argmax(1)
                gains.append(min(float((pc == ym).mean() - (pp == ym).mean()), macro_f1(ym, pc) - macro_f1(ym, pp)))
            acc = float((p[tune].argmax(1) == yt).mean())
            return (round(min(gains), 4), acc, -int(c.flip > 0) - (c.margin is not None))

        best = max(cands, key=tune_score)
        best_flip = max((c for c in cands if c.margin is None), key=tune_score)
        raw = {"plain": f["plain"], "tuned": probs_for(best, f), "flip": probs_for(best_flip, f), "default": default}
        t_fit = {name: fit_temperature(p[tune], yt) for name, p in raw.items()}
        temps.append(t_fit["default"])
        for name, p in raw.items():
            held[name][test] = calibrate(p[test], t_fit[name])
        ys = fs.y[test]
        pred = {name: held[name][test].argmax(1) for name in raw}
        acc = {name: float((p == ys).mean()) for name, p in pred.items()}
        f1 = {name: macro_f1(ys, p) for name, p in pred.items()}
        for name in worse:
            worse[name] += acc[name] < acc["plain"] or f1[name] < f1["plain"]
        print(
            f"| {k} | {int(test.sum())} | {acc['plain']:.1%} | {acc['tuned']:.1%} | {acc['flip']:.1%} "
            f"| {acc['default']:.1%} | {f1['plain']:.3f} | {f1['tuned']:.3f} | {f1['flip']:.3f} | {f1['default']:.3f} "
            f"| {t_fit['plain']} | {t_fit['default']} | {best}; {best_flip} |"
        )
        conf_k = held["default"][test].max(1)
        ans = conf_k >= cfg.min_confidence
        right = pred["default"] == ys
        abstain_rows.append(
            f"| {k} | {ans.mean():.1%} | {right[ans].mean() if ans.any() else float('nan'):.1%} "
            f"| {right[~ans].mean() if (~ans).any() else float('nan'):.1%} | {acc['plain']:.1%} |"
        )
    pred = {name: h.argmax(1) for name, h in held.items()}
    acc = {name: float((p == fs.y).mean()) for name, p in pred.items()}
    f1 = {name: macro_f1(fs.y, p) for name, p in pred.items()}
    print(
        f"| all | {n} | {acc['plain']:.1%} | {acc['tuned']:.1%} | {acc['flip']:.1%} | {acc['default']:.1%} "
        f"| {f1['plain']:.3f} | {f1['tuned']:.3f} | {f1['flip']:.3f} | {f1['default']:.3f} | | | |"
    )
    print(
        f"\nfolds where accuracy or macro-F1 fell below the plain model: tuned {worse['tuned']} of {folds}, "
        f"flip-tuned {worse['flip']} of {folds}, default {worse['default']} of {folds}"
    )
    print(f"\nAbstention per fold at the shipped emotion.min_confidence {cfg.min_confidence} (fold's own T):\n")
    print("| fold | answered | accuracy of answered | accuracy of those left 'uncertain' | plain acc (all) |")
    print("|---|---|---|---|---|")
    print("\n".join(abstain_rows))
    print(
        "\nRisk-coverage (held-out faces, confidence calibrated on the tune folds; accuracy of the most "
        "confident x %):\n"
    )
    print("| coverage | plain acc | tuned acc | flip-tuned acc | default acc | default confidence threshold |")
    print("|---|---|---|---|---|---|")
    conf = {name: h.max(1) for name, h in held.items()}
    for cov in COVERAGES:
        thr = float(np.sort(conf["default"])[::-1][max(1, round(cov * n)) - 1])
        cells = " | ".join(
            f"{accuracy_at(conf[m], pred[m] == fs.y, cov):.1%}" for m in ("plain", "tuned", "flip", "default")
        )
        print(f"| {cov:.0%} | {cells} | {thr:.2f} |")
    answered = conf["default"] >= cfg.min_confidence
    sel = float((pred["default"] == fs.y)[answered].mean()) if answered.any() else float("nan")
    print(
        f"\nat the shipped emotion.min_confidence {cfg.min_confidence} (folds' own temperatures, median "
        f"{float(np.median(temps))}; shipped {cfg.temperature}): {answered.mean():.1%} answered, "
        f"{sel:.1%} of those right, the rest 'uncertain'"
    )
    return {
        "plain_acc": acc["plain"],
        "default_acc": acc["default"],
        "plain_f1": f1["plain"],
        "default_f1": f1["default"],
        "default_worse_folds": float(worse["default"]),
        "temperature": float(np.median(temps)),
    }


def timing(fs: FaceSet, clf: ExpressionClassifier, flip_clf: ExpressionClassifier, det: list[FaceDetector]) -> float:
    """Per face, batch of one, from the BGR image: plain = grey + resize + model; default = the
    shipped ``read_still`` (tight-crop gate, detection and alignment where it applies, flip
    averaging). Returns the ratio default / plain."""
    imgs = fs.images[:200]
    cfg = EmotionConfig()
    t_plain, t_path = [], []
    for rep in range(2):
        for img in imgs:
            t0 = time.perf_counter()
            clf.predict(plain_crop(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))[None])
            t1 = time.perf_counter()
            read_still(img, det, flip_clf, cfg)
            t2 = time.perf_counter()
            if rep:
                t_plain.append(t1 - t0)
                t_path.append(t2 - t1)
    a, b = float(np.median(t_plain)) * 1000, float(np.median(t_path)) * 1000
    print(f"\ntime per face (median of {len(imgs)}): plain {a:.2f} ms, default path {b:.2f} ms, ratio {b / a:.2f}")
    return b / a


def run(folds: int = 5, threads: int = 1) -> list[dict[str, float]]:
    """Cross-validate and time every face set present; the summary figures per set."""
    sets = load_sets() if FACES.is_dir() else []
    if not sets:
        raise SystemExit(f"no face sets (labels_*.csv) under {FACES}")
    clf = ExpressionClassifier(threads=threads, device="cpu")
    cfg = EmotionConfig()
    flip_clf = ExpressionClassifier(flip_weight=cfg.flip_weight, threads=threads, device="cpu")
    dets = [FaceDetector(v, threads=threads, device="cpu") for v in ("short_range", "full_range")]
    out = []
    for fs in sets:
        res = cross_validate(fs, features(fs, clf, dets[0]), folds, default_path(fs, dets, flip_clf))
        res["time_ratio"] = timing(fs, clf, flip_clf, dets)
        out.append(res)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    run(args.folds, args.threads)


if __name__ == "__main__":
    main()
