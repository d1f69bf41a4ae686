"""The PyAV decode loop shared by file and live sources.

Packets are demuxed and decoded one at a time (rather than with ``container.decode()``) so a
packet the decoder rejects costs exactly that packet: it is counted and skipped, and decoding
carries on with the next one. Frames that FFmpeg decoded but flagged as damaged (error concealment
smeared a missing slice over the picture) are skipped too: feeding a half-grey frame to the
detector produces phantom or missing people, which is worse than a gap of a few frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import av
import av.container
import av.video
import numpy as np
import numpy.typing as npt

from storelens.sources.sampling import fit_width

OnCorrupt = Callable[[str], None]


def open_input(
    url: str,
    *,
    container_format: str | None = None,
    options: dict[str, str] | None = None,
    timeout: tuple[float, float] | None = None,
) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    """Open ``url`` for reading and return it with its first video stream.

    Raises the PyAV error (``av.FFmpegError``) or ``OSError`` as-is, or ``ValueError`` when the
    container holds no video; callers decide whether that is fatal (a file) or an outage (a camera).
    """
    kwargs: dict[str, Any] = {"mode": "r"}
    if container_format is not None:
        kwargs["format"] = container_format
    if options:
        kwargs["options"] = dict(options)
    if timeout is not None:
        kwargs["timeout"] = timeout
    container = av.open(url, **kwargs)
    try:
        if not container.streams.video:
            raise ValueError("no video stream in the container")
        stream = container.streams.video[0]
        # Decode on all cores: frame threading roughly doubles H.264 throughput on two cores.
        stream.thread_type = "AUTO"
    except BaseException:
        container.close()
        raise
    return container, stream


def decode_frames(
    container: av.container.InputContainer,
    stream: av.video.VideoStream,
    on_corrupt: OnCorrupt,
    *,
    demux_retries: int,
) -> Iterator[av.VideoFrame]:
    """Yield the decoded frames of ``stream``, skipping (and reporting) what cannot be decoded.

    A demuxer error ends the iteration by raising after ``demux_retries`` consecutive failures
    without a good frame in between: files retry (the damage may be one bad chunk), live streams
    pass 0 because a demuxer error there means the connection is gone and only a reconnect helps.
    End of input (including a truncated file) ends the iteration normally, after the decoder has
    been flushed of the frames it still held.
    """
    codec = stream.codec_context
    failures = 0
    while True:
        try:
            for packet in container.demux(stream):
                try:
                    decoded = codec.decode(packet)
                except av.FFmpegError as exc:
                    on_corrupt(f"undecodable packet at pts {packet.pts}: {exc}")
                    continue
                for frame in decoded:
                    if frame.is_corrupt:
                        on_corrupt(f"frame at pts {frame.pts} decoded with errors")
                        continue
                    failures = 0
                    yield frame
            return
        except av.FFmpegError as exc:
            if failures >= demux_retries:
                raise
            failures += 1
            on_corrupt(f"unreadable data: {exc}")


def frame_seconds(frame: av.VideoFrame) -> float | None:
    """The frame's presentation time in seconds, or None when the stream gave it no timestamp."""
    t = frame.time
    if t is None or not math.isfinite(t):
        return None
    return float(t)


def stream_rate(stream: av.video.VideoStream, fallback: float) -> float:
    """Nominal frame rate, used to invent timestamps for frames that came without one."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and isinstance(rate, Fraction | int | float) and 0 < float(rate) < 1000:
            return float(rate)
    return fallback


def stream_start_seconds(stream: av.video.VideoStream) -> float:
    """Where the stream's clock starts (MPEG-TS files often start at 1.4 s, not 0)."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def to_bgr(
    frame: av.VideoFrame, max_width: int, index: int, on_corrupt: Callable[[str], None]
) -> npt.NDArray[np.uint8] | None:
    """A decoded frame as a BGR uint8 array no wider than ``max_width``; None when it cannot be
    converted, after telling ``on_corrupt`` which frame (one bad frame is skipped, not fatal)."""
    try:
        return fit_width(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8), max_width)
    except (av.FFmpegError, ValueError) as exc:
        on_corrupt(f"frame {index} could not be converted: {exc}")
        return None


class MonotonicClock:
    """Turns raw stream timestamps into strictly increasing pts.

    Analytics divide by pts differences (speed) and sum them (dwell), so a repeated or backwards
    timestamp from a damaged file or a restarted stream must not reach them. A frame without a
    usable timestamp gets the previous pts plus one nominal frame interval.
    """

    __slots__ = ("last", "step")

    def __init__(self, step: float) -> None:
        self.step = step
        self.last: float | None = None

    def next(self, candidate: float | None) -> float:
        if self.last is None:
            pts = candidate if candidate is not None else 0.0
        elif candidate is None or candidate <= self.last:
            pts = self.last + self.step
        else:
            pts = candidate
        self.last = pts
        return pts
