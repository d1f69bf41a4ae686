"""One word for a camera's health, with the reason, from its runner status and its fps target.

"Online" alone lied: a camera can be connected while its pipeline analyses 1.4 of the 10 frames
per second it should, or while the frame it is analysing was captured 84 s ago. Store staff need
the truth in one word, so the API computes it once (the dashboard and any other client show the
same thing):

* ``offline``   the source is not delivering (or the pipeline is restarting / stopped);
* ``stalled``   connected, but no frame was analysed in the last few seconds;
* ``behind``    frames are analysed, but the newest one was captured more than
  :data:`BEHIND_S` ago: results arrive late (the machine cannot keep up in real time);
* ``lagging``   up to date, but analysing fewer than :data:`LAGGING_SHARE` of the target fps;
* ``online``    keeping up;
* ``starting``, ``finished`` (a file source that ended), ``disabled``: as they say.
"""

from __future__ import annotations

from typing import Literal

from storelens.service.runner import CameraStatus

Health = Literal["online", "lagging", "behind", "stalled", "offline", "starting", "finished", "disabled"]

BEHIND_S = 10.0
"""A newest analysed frame older than this (capture to now) means results are late."""
LAGGING_SHARE = 0.8
"""Analysing less than this share of the target fps is lagging."""


def camera_health(status: CameraStatus, fps_target: float) -> tuple[Health, str]:
    """(health, a sentence saying why) for one camera's status."""
    target = f"{status.fps:.1f} of {fps_target:g} fps"
    if status.state == "disabled":
        return "disabled", "disabled in the store config"
    if status.state == "finished":
        return "finished", f"the source ended after {status.frames} frames"
    if status.state == "failed":
        return "offline", status.last_error or "the camera failed and is not restarted"
    if status.state == "starting":
        return "starting", "opening the source and loading the models"
    if not status.online or status.state != "running":
        why = status.last_error or ("restarting" if status.state == "restarting" else "no frames from the source")
        return "offline", why
    if status.frames == 0:
        return "starting", "waiting for the first analysed frame"
    lag = status.lag_s
    if status.fps <= 0:
        ago = f"; the last was captured {lag:.0f} s ago" if lag is not None else ""
        return "stalled", f"no frame analysed in the last 5 s{ago}"
    if lag is not None and lag > BEHIND_S:
        return "behind", f"{lag:.0f} s behind real time, analysing {target}"
    if status.fps < LAGGING_SHARE * fps_target:
        return "lagging", f"analysing {target}"
    return "online", f"analysing {target}"
