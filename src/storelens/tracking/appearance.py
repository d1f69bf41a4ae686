"""A cheap appearance cue: colour histograms of three horizontal body stripes.

No re-identification weights exist for this project, and a shopper's clothing colours are the cue
that separates two people whose boxes cross. For each box we take the central 60 % of its width
(less background) and three stripes of its height below the head (upper body, hips, legs), bin
the pixels in HSV and compare two descriptors with the Bhattacharyya coefficient per stripe.

Binning: a pixel with enough saturation and brightness is *chromatic* and goes to one of 8 hue
bins × 2 saturation levels; a grey, black or white pixel has no reliable hue and goes to one of
4 brightness bins. 20 bins per stripe, 60 in all: coarse enough to survive lighting changes and
motion blur, fine enough to tell a red coat from a blue one.

Cost: crops are subsampled to at most ~24 x 48 pixels before conversion, and every box of a frame
is binned in one ``np.bincount``, so 20 boxes cost well under a millisecond. Trackers call this
only for the boxes that need it (ambiguous associations, re-acquisition, template refresh).

Privacy: a descriptor is 60 numbers about clothing colour, not a face or identity template; it is
kept in memory only, never logged or stored, and dropped when its track or visit ends.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

HUE_BINS = 8
SAT_LEVELS = 2
GREY_BINS = 4
BINS_PER_STRIPE = HUE_BINS * SAT_LEVELS + GREY_BINS
STRIPES = ((0.15, 0.42), (0.42, 0.68), (0.68, 0.98))
"""Fractions of the box height: upper body, hips/hands, legs. The head (top 15 %) is skipped: it
says little about clothing and keeps the descriptor away from faces."""
DESCRIPTOR_DIM = BINS_PER_STRIPE * len(STRIPES)
_SAT_MIN, _VAL_MIN, _SAT_HIGH = 48, 40, 128
_MAX_COLS, _MAX_ROWS = 24, 48
_MIN_PIXELS = 4


def stripe_descriptors(image: npt.NDArray[np.uint8], boxes: npt.ArrayLike) -> tuple[F32, npt.NDArray[np.bool_]]:
    """Descriptors for (N, 4) xyxy ``boxes`` in a BGR ``image``.

    Returns ``(desc, ok)``: ``desc`` (N, 60) float32 holds the square roots of the per-stripe
    normalised histograms (so the Bhattacharyya coefficient is a dot product); ``ok`` is False for
    boxes that are outside the image or too small to describe (their rows are zero).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    desc = np.zeros((n, DESCRIPTOR_DIM), np.float32)
    ok = np.zeros(n, dtype=bool)
    if n == 0:
        return desc, ok
    img_h, img_w = int(image.shape[0]), int(image.shape[1])
    codes: list[npt.NDArray[np.int64]] = []
    for i in range(n):
        x1, y1, x2, y2 = b[i]
        if not np.isfinite(b[i]).all():
            continue
        bw, bh = x2 - x1, y2 - y1
        cx0 = int(max(0.0, x1 + 0.2 * bw))
        cx1 = int(min(float(img_w), x2 - 0.2 * bw))
        cy0 = int(max(0.0, y1 + STRIPES[0][0] * bh))
        cy1 = int(min(float(img_h), y1 + STRIPES[-1][1] * bh))
        if cx1 - cx0 < 2 or cy1 - cy0 < 3:
            continue
        sx = max(1, (cx1 - cx0) // _MAX_COLS)
        sy = max(1, (cy1 - cy0) // _MAX_ROWS)
        crop = np.ascontiguousarray(image[cy0:cy1:sy, cx0:cx1:sx])
        hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).reshape(crop.shape[0], crop.shape[1], 3)
        hue = hsv[..., 0].astype(np.int64)
        sat = hsv[..., 1]
        val = hsv[..., 2]
        chroma = (sat >= _SAT_MIN) & (val >= _VAL_MIN)
        bins = np.where(
            chroma,
            (hue * HUE_BINS // 180) * SAT_LEVELS + (sat >= _SAT_HIGH),
            HUE_BINS * SAT_LEVELS + val.astype(np.int64) * GREY_BINS // 256,
        )
        # Stripe of each row from its position in the box (rows outside every stripe are skipped).
        rel = (cy0 + np.arange(crop.shape[0]) * sy - y1) / max(bh, 1e-6)
        stripe = np.full(crop.shape[0], -1, dtype=np.int64)
        for s, (lo, hi) in enumerate(STRIPES):
            stripe[(rel >= lo) & (rel < hi)] = s
        keep = stripe >= 0
        code = (i * DESCRIPTOR_DIM + stripe[keep, None] * BINS_PER_STRIPE + bins[keep]).ravel()
        codes.append(code)
        ok[i] = True
    if not codes:
        return desc, ok
    counts = np.bincount(np.concatenate(codes), minlength=n * DESCRIPTOR_DIM).astype(np.float32)
    hist = counts.reshape(n, len(STRIPES), BINS_PER_STRIPE)
    totals = hist.sum(axis=2, keepdims=True)
    ok &= (totals[:, :, 0] >= _MIN_PIXELS).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(totals > 0, hist / np.maximum(totals, 1.0), 0.0)
    desc = np.sqrt(norm).reshape(n, DESCRIPTOR_DIM).astype(np.float32)
    desc[~ok] = 0.0
    return desc, ok


def similarity(a: F32, b: F32) -> npt.NDArray[np.float64]:
    """Pairwise Bhattacharyya coefficient (mean over stripes) of (N, 60) and (M, 60): (N, M) in [0, 1].

    Identical colour distributions give 1, disjoint ones 0; the same person seen in two frames
    typically scores above 0.85, two differently dressed people below 0.7.
    """
    aa = np.asarray(a, dtype=np.float64).reshape(-1, DESCRIPTOR_DIM)
    bb = np.asarray(b, dtype=np.float64).reshape(-1, DESCRIPTOR_DIM)
    return np.asarray(np.clip(aa @ bb.T / len(STRIPES), 0.0, 1.0))


def blend(template: F32, observed: F32, keep: float) -> F32:
    """EMA update of (N, 60) templates with (N, 60) observations, renormalised per stripe.

    ``keep`` is the weight of the old template (0.9 keeps a long memory so one occluded frame cannot
    overwrite a shopper's colours). Blending happens on the histograms, not their square roots.
    """
    t = np.asarray(template, np.float32).reshape(-1, len(STRIPES), BINS_PER_STRIPE) ** 2
    o = np.asarray(observed, np.float32).reshape(-1, len(STRIPES), BINS_PER_STRIPE) ** 2
    mix = keep * t + (1.0 - keep) * o
    mix /= np.maximum(mix.sum(axis=2, keepdims=True), 1e-12)
    return np.sqrt(mix).reshape(-1, DESCRIPTOR_DIM).astype(np.float32)
