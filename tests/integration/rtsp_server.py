"""A real RTSP server for the reconnect test: serves one H.264 MP4 at rtsp://127.0.0.1:PORT/cam.

Run with the SYSTEM python (``/usr/bin/python3``), where the GStreamer gi bindings live; the
project venv cannot import them. Usage::

    /usr/bin/python3 tests/integration/rtsp_server.py VIDEO.mp4 PORT

It prints ``serving`` once the port is bound, so the test can wait for it instead of sleeping.
Killing the process is how the test simulates a camera dropping off the network; starting it again
on the same port simulates the camera coming back. ffmpeg 5.1 cannot do this job: its
``-rtsp_flags listen`` only receives streams, it does not serve them to readers.
"""

from __future__ import annotations

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} VIDEO.mp4 PORT", file=sys.stderr)
        return 2
    path, port = argv[1], argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    # config-interval=1 repeats SPS/PPS with every keyframe so a client that joins (or rejoins
    # after a reconnect) mid-stream can start decoding at the next keyframe.
    factory.set_launch(
        f"( filesrc location={path} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    # One shared pipeline: every client sees the same live position, as with a real camera.
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"could not bind 127.0.0.1:{port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print("serving", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
