"""The FrameSource protocol: anything that yields frames for one camera."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from storelens.core.types import Frame

StatusCallback = Callable[[str, float, dict[str, Any]], None]
"""Called as (event_type, wall_time, payload) for camera.offline / camera.online / camera.frame_corrupt."""


@dataclass(slots=True)
class SourceStats:
    """Counters a source keeps so the service can show camera health."""

    decoded: int = 0
    emitted: int = 0
    dropped: int = 0  # skipped by fps sampling or because the consumer was behind
    queue_dropped: int = 0  # of dropped: evicted from a bounded hand-off queue (the consumer was behind)
    corrupt: int = 0
    reconnects: int = 0
    online: bool = False
    last_frame_wall_time: float | None = None
    last_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class FrameSource(Protocol):
    camera_id: str
    stats: SourceStats

    def frames(self) -> Iterator[Frame]:
        """Yield analysed frames until the source ends (files) or close() is called (streams)."""
        ...

    def close(self) -> None: ...


class SourceError(RuntimeError):
    """A source cannot be opened or read at all (missing file, unreadable container, bad URL).

    Raised only for problems a retry cannot fix; a live camera that is merely unreachable is not an
    error but an outage, reported through ``camera.offline`` while the source keeps retrying. The
    message always names the path or (credential-redacted) URL and the reason, because it is shown
    to the person who wrote the store config.
    """


class ClosingSource:
    """``with source: ...`` closes the source on the way out, whatever happened inside."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
