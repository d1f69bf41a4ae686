"""Redact a whole media file (video, GIF or still image) through the one redaction path.

``storelens redact INPUT OUTPUT`` is this module: every decoded frame goes through a
:class:`~storelens.privacy.frames.FrameRedactor` and only the :class:`RedactedFrame` it returns
reaches the writer, which accepts nothing else. The output is written to a temporary name next
to the target and renamed when complete, so a failure never leaves a half-written file that looks
finished (and never touches the input).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np
import numpy.typing as npt

from storelens.privacy.frames import FrameRedactor, RedactedFrame

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".avi", ".gif"})


class MediaError(ValueError):
    """The input cannot be read or the output cannot be written (message says which and why)."""


@dataclass(frozen=True, slots=True)
class RedactionStats:
    output: Path
    frames: int
    faces: int
    people: int
    fps: float


def _fit(image: npt.NDArray[np.uint8], max_width: int | None) -> npt.NDArray[np.uint8]:
    if max_width is None or image.shape[1] <= max_width:
        return image
    scale = max_width / image.shape[1]
    size = (max_width, max(1, round(image.shape[0] * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def read_media(path: Path, max_width: int | None = None) -> tuple[Iterator[npt.NDArray[np.uint8]], float]:
    """(BGR frames, frames per second) of a video, GIF or still image."""
    if not path.is_file():
        raise MediaError(f"input not found: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise MediaError(f"cannot read image {path}")
        return iter([_fit(np.asarray(image, np.uint8), max_width)]), 1.0
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot read {path}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path} has no video stream")
    stream = container.streams.video[0]
    rate = float(stream.average_rate or stream.guessed_rate or 10)
    if not 0 < rate <= 240:
        rate = 10.0

    def frames() -> Iterator[npt.NDArray[np.uint8]]:
        try:
            for frame in container.decode(stream):
                yield _fit(np.ascontiguousarray(frame.to_ndarray(format="bgr24")), max_width)
        except av.FFmpegError as exc:
            raise MediaError(f"{path}: decoding failed: {exc}") from None
        finally:
            container.close()

    return frames(), rate


def require_redacted(frame: object) -> RedactedFrame:
    """``frame`` if it is a :class:`RedactedFrame`; a TypeError otherwise (the one check every writer
    makes, so an unredacted array has no type-correct way into a file)."""
    if not isinstance(frame, RedactedFrame):
        raise TypeError("only RedactedFrame objects can be written (run the frame through FrameRedactor)")
    return frame


class RedactedWriter:
    """Writes :class:`RedactedFrame` objects (nothing else) to a video, GIF or image file.

    This is storelens's one encoder: ``storelens redact`` writes through it directly and the
    pipeline's annotated video through :class:`storelens.output.video.VideoWriter`, which runs it
    on a background thread. ``crf``/``preset`` tune H.264 (smaller files for long annotated runs);
    ``threads`` is libx264's thread count (0: its own choice, about 1.5 per core)."""

    def __init__(self, path: Path, fps: float, *, crf: int = 23, preset: str = "veryfast", threads: int = 0) -> None:
        self.path = path
        suffix = path.suffix.lower()
        if suffix not in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
            known = ", ".join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))
            raise MediaError(f"unsupported output type {suffix!r} (use one of {known})")
        self.suffix = suffix
        self.fps = Fraction(fps).limit_denominator(1000)
        self.frames = 0
        self._crf = crf
        self._preset = preset
        self._threads = threads
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._closed = False

    def write(self, frame: RedactedFrame) -> None:
        img = require_redacted(frame).image
        if self._closed:
            raise MediaError(f"{self.path}: written after close")
        if self.suffix in IMAGE_SUFFIXES:
            if self.frames:
                raise MediaError(f"{self.path}: an image output holds one frame; the input has more (use .mp4/.gif)")
            if not cv2.imwrite(str(self.path), img):
                raise MediaError(f"cannot write {self.path}")
            self.frames += 1
            return
        if self._stream is None:
            self._open(img.shape[1], img.shape[0])
        assert self._stream is not None and self._container is not None
        h, w = self._stream.height, self._stream.width
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h, :w]), format="bgr24")
        vf.pts = self.frames
        vf.time_base = 1 / self.fps
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def _open(self, width: int, height: int) -> None:
        self._container = av.open(str(self.path), mode="w", format=_container_format(self.suffix))
        if self.suffix == ".gif":
            stream = self._container.add_stream("gif", rate=self.fps)
            stream.pix_fmt = "rgb8"
            stream.width, stream.height = width, height
        else:
            stream = self._container.add_stream("libx264", rate=self.fps)
            stream.pix_fmt = "yuv420p"
            stream.width, stream.height = width - width % 2, height - height % 2
            stream.options = {"crf": str(self._crf), "preset": self._preset}
            if self._threads:
                stream.options = {**stream.options, "threads": str(self._threads)}
        self._stream = stream

    def close(self) -> None:
        """Flush the encoder and close the file (the file is closed even when the flush fails)."""
        self._closed = True
        container, stream = self._container, self._stream
        self._container = self._stream = None
        if container is None:
            return
        try:
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)
        finally:
            container.close()

    def __enter__(self) -> RedactedWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _container_format(suffix: str) -> str:
    return {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".avi": "avi", ".gif": "gif"}[suffix]


def redact_media(
    source: Path,
    output: Path,
    redactor: FrameRedactor,
    *,
    max_width: int | None = None,
    overwrite: bool = False,
    on_frame: Callable[[int, RedactedFrame], None] | None = None,
) -> RedactionStats:
    """Redact every frame of ``source`` into ``output`` (type from its suffix)."""
    source, output = Path(source), Path(output)
    if source.resolve() == output.resolve():
        raise MediaError("output must differ from the input (the input is never modified)")
    if output.exists() and not overwrite:
        raise MediaError(f"output {output} exists (pass --overwrite to replace it)")
    if not output.parent.is_dir():
        raise MediaError(f"output folder {output.parent} does not exist")
    frames, fps = read_media(source, max_width)
    tmp = output.with_name(f".partial-{os.getpid()}-{output.name}")
    faces = people = 0
    try:
        with RedactedWriter(tmp, fps) as writer:
            for i, image in enumerate(frames):
                red = redactor(image)
                faces += red.faces
                people += red.people
                writer.write(red)
                if on_frame is not None:
                    on_frame(i, red)
            n = writer.frames
        if n == 0:
            raise MediaError(f"{source}: no frames could be decoded")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return RedactionStats(output, n, faces, people, fps)
