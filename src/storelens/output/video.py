"""MP4 writer (H.264 via PyAV's bundled libx264) for annotated, already-redacted frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import numpy.typing as npt


class VideoWriter:
    """Write BGR frames to an H.264 MP4 that browsers play (yuv420p, even dimensions)."""

    def __init__(self, path: Path, fps: float, crf: int = 26, preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = Fraction(fps).limit_denominator(1000)
        self._container = av.open(str(self.path), mode="w")
        self._stream: av.VideoStream | None = None
        self._crf = crf
        self._preset = preset
        self.frames = 0

    def write(self, image_bgr: npt.NDArray[np.uint8]) -> None:
        h, w = image_bgr.shape[:2]
        if self._stream is None:
            stream = self._container.add_stream("libx264", rate=self.fps)
            stream.width, stream.height = w - w % 2, h - h % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self._crf), "preset": self._preset}
            self._stream = stream
        img = image_bgr[: self._stream.height, : self._stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        frame.pts = self.frames
        frame.time_base = 1 / self.fps
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
