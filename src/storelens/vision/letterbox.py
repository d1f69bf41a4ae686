"""Letterboxing: fit a frame into a YOLO input without distorting it, and map results back.

Rectangular, as Ultralytics' ``LetterBox(auto=True)``: the frame is scaled so its long side is
``input_size`` (upscaling small frames too, so a 480x270 GIF still fills the 640 input the model
was trained at and small people stay detectable), then each side is padded with grey 114 only up
to the next multiple of 32 (the network stride), split evenly between both edges. A 16:9 frame at
640 becomes a 640x384 tensor instead of 640x640: 40 % fewer pixels, proportionally less compute,
same detections. Models with a static input shape get padded to exactly that shape instead.

The geometry (:func:`plan_letterbox`) is separate from the pixel work (:func:`letterbox`) so that
a batch of same-sized frames shares one plan, and the inverse mappings can be tested on numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114
"""Grey used by Ultralytics for padding; the model saw it during training."""

STRIDE = 32


@dataclass(frozen=True, slots=True)
class LetterboxInfo:
    """How a frame was placed in the model input.

    ``input = frame * scale + (pad_x, pad_y)``; ``input_w`` x ``input_h`` is the tensor size and
    ``frame_w`` x ``frame_h`` the original frame (kept so results can be clipped to it). The
    content occupies ``content_w`` x ``content_h`` pixels of the input.
    """

    scale: float
    pad_x: int
    pad_y: int
    input_w: int
    input_h: int
    frame_w: int
    frame_h: int
    content_w: int
    content_h: int


def plan_letterbox(
    frame_w: int,
    frame_h: int,
    input_size: int = 640,
    stride: int = STRIDE,
    fixed_shape: tuple[int, int] | None = None,
) -> LetterboxInfo:
    """Where a ``frame_w`` x ``frame_h`` frame goes in the model input.

    Without ``fixed_shape``: long side scaled to ``input_size``, each side padded to the smallest
    multiple of ``stride``. With ``fixed_shape=(height, width)`` (a model with a static input, or a
    square baseline): scaled to fit inside it and padded to exactly that size. Padding is centred;
    an odd total puts the extra pixel on the right/bottom, as Ultralytics does.
    """
    if frame_w <= 0 or frame_h <= 0:
        raise ValueError(f"frame size must be positive, got {frame_w}x{frame_h}")
    if stride <= 0:
        raise ValueError(f"stride must be positive, got {stride}")
    if fixed_shape is None:
        if input_size <= 0 or input_size % stride:
            raise ValueError(f"input_size must be a positive multiple of {stride}, got {input_size}")
        scale = input_size / max(frame_w, frame_h)
        content_w = min(input_size, max(1, round(frame_w * scale)))
        content_h = min(input_size, max(1, round(frame_h * scale)))
        input_w = math.ceil(content_w / stride) * stride
        input_h = math.ceil(content_h / stride) * stride
    else:
        input_h, input_w = fixed_shape
        if input_h <= 0 or input_w <= 0:
            raise ValueError(f"fixed_shape must be positive (height, width), got {fixed_shape}")
        scale = min(input_w / frame_w, input_h / frame_h)
        content_w = min(input_w, max(1, round(frame_w * scale)))
        content_h = min(input_h, max(1, round(frame_h * scale)))
    # Ultralytics: left = round(dw/2 - 0.1) so an odd remainder goes to the right/bottom edge.
    pad_x = round((input_w - content_w) / 2 - 0.1)
    pad_y = round((input_h - content_h) / 2 - 0.1)
    return LetterboxInfo(
        scale=scale,
        pad_x=int(pad_x),
        pad_y=int(pad_y),
        input_w=int(input_w),
        input_h=int(input_h),
        frame_w=int(frame_w),
        frame_h=int(frame_h),
        content_w=int(content_w),
        content_h=int(content_h),
    )


def check_image(image: object) -> npt.NDArray[np.uint8]:
    """The image if it is a non-empty HxWx3 uint8 array, else a one-line ValueError."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", None)
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got shape={shape} dtype={dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape={image.shape}")
    return image


def letterbox_image(image_bgr: npt.NDArray[np.uint8], info: LetterboxInfo) -> npt.NDArray[np.uint8]:
    """The padded ``input_h`` x ``input_w`` x 3 BGR uint8 image for ``info`` (plan from this frame size)."""
    img: npt.NDArray[Any] = check_image(image_bgr)
    h, w = img.shape[:2]
    if (w, h) != (info.frame_w, info.frame_h):
        raise ValueError(f"image is {w}x{h} but the letterbox plan is for {info.frame_w}x{info.frame_h}")
    if (w, h) != (info.content_w, info.content_h):
        img = cv2.resize(img, (info.content_w, info.content_h), interpolation=cv2.INTER_LINEAR)
    right = info.input_w - info.content_w - info.pad_x
    bottom = info.input_h - info.content_h - info.pad_y
    if info.pad_x or info.pad_y or right or bottom:
        img = cv2.copyMakeBorder(
            img, info.pad_y, bottom, info.pad_x, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
        )
    return np.ascontiguousarray(img, dtype=np.uint8)


def to_tensor(images_bgr: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    """Stack same-sized padded BGR images into the NCHW float32 RGB 0..1 tensor YOLO expects.

    ``cv2.dnn.blobFromImages`` does the channel swap, transpose and scaling in one C++ call
    (about 0.6-0.9 ms for one 640x384 image here; a numpy slice-transpose-astype chain took
    1.5 ms, a cvtColor-based one was within noise of it), always returning a contiguous tensor.
    """
    if not images_bgr:
        raise ValueError("to_tensor needs at least one image")
    blob = cv2.dnn.blobFromImages(list(images_bgr), scalefactor=1.0 / 255.0, swapRB=True, crop=False)
    return np.asarray(blob, dtype=np.float32)


def letterbox(
    image_bgr: npt.NDArray[np.uint8],
    input_size: int = 640,
    stride: int = STRIDE,
    fixed_shape: tuple[int, int] | None = None,
) -> tuple[npt.NDArray[np.float32], LetterboxInfo]:
    """Letterbox one BGR frame: the (1, 3, H, W) float32 RGB 0..1 tensor and where the frame went."""
    img = check_image(image_bgr)
    info = plan_letterbox(img.shape[1], img.shape[0], input_size, stride, fixed_shape)
    return to_tensor([letterbox_image(img, info)]), info


def boxes_to_frame(xyxy: npt.ArrayLike, info: LetterboxInfo) -> npt.NDArray[np.float32]:
    """Map (N, 4) x1,y1,x2,y2 boxes from input pixels back to frame pixels, clipped to the frame."""
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    out = np.empty_like(b)
    inv = np.float32(1.0 / info.scale)
    out[:, [0, 2]] = (b[:, [0, 2]] - np.float32(info.pad_x)) * inv
    out[:, [1, 3]] = (b[:, [1, 3]] - np.float32(info.pad_y)) * inv
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, info.frame_w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, info.frame_h)
    return out


def boxes_to_input(xyxy: npt.ArrayLike, info: LetterboxInfo) -> npt.NDArray[np.float32]:
    """The forward mapping of :func:`boxes_to_frame` (frame pixels to input pixels), for tests and
    for drawing ground truth on a model input."""
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    out = b * np.float32(info.scale)
    out[:, [0, 2]] += np.float32(info.pad_x)
    out[:, [1, 3]] += np.float32(info.pad_y)
    return out


def keypoints_to_frame(keypoints: npt.ArrayLike, info: LetterboxInfo) -> npt.NDArray[np.float32]:
    """Map (N, K, 2|3) keypoints from input pixels to frame pixels, clipped to the frame; a third
    (visibility) channel is passed through unchanged."""
    k = np.asarray(keypoints, dtype=np.float32)
    if k.ndim != 3 or k.shape[2] not in (2, 3):
        raise ValueError(f"keypoints must have shape (N, K, 2|3), got {k.shape}")
    out = k.copy()
    inv = np.float32(1.0 / info.scale)
    out[..., 0] = np.clip((k[..., 0] - np.float32(info.pad_x)) * inv, 0, info.frame_w)
    out[..., 1] = np.clip((k[..., 1] - np.float32(info.pad_y)) * inv, 0, info.frame_h)
    return out


def keypoints_to_input(keypoints: npt.ArrayLike, info: LetterboxInfo) -> npt.NDArray[np.float32]:
    """The forward mapping of :func:`keypoints_to_frame`."""
    k = np.asarray(keypoints, dtype=np.float32)
    if k.ndim != 3 or k.shape[2] not in (2, 3):
        raise ValueError(f"keypoints must have shape (N, K, 2|3), got {k.shape}")
    out = k.copy()
    out[..., 0] = k[..., 0] * np.float32(info.scale) + np.float32(info.pad_x)
    out[..., 1] = k[..., 1] * np.float32(info.scale) + np.float32(info.pad_y)
    return out
