"""Fixtures for browser tests: the real service on a free port, the system Chromium, one page per test.

The service is the production app (``create_app`` + the dashboard router) with a SQLite database in
a temporary folder and the real camera pipeline (detector, tracker, zones) on the bundled demo clip.
To keep the run short the clip is analysed at 5 fps (every other frame) for 120 frames: 24 s of
video, in which the first shopper walks along the walkway, stands at the counter and leaves.

The pipeline waits at a gate until a test opens it (or asks for the finished run), so a page can be
connected *before* the first frame: the test of the live overlay then sees overlays arrive, however
fast or slow this machine analyses frames.

Chromium is Debian's (``apt-get install chromium``, see scripts/install-system-deps.sh), driven by
Playwright without ``playwright install`` (which would download a browser and fails here).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher, Type
from fastapi import FastAPI, Request, Response
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import Response as PageResponse

from budget import StallGuard, scaled
from storelens.config import load_config
from storelens.pipeline.build import BuiltCamera, build_camera
from storelens.security.users import create_user
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.dashboard import dashboard_router, dashboard_rules
from storelens.service.security import install_security
from testdata import DEMO_STORE

DEMO = DEMO_STORE
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STRICT_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The policy issue 9's security layer sends: pages are tested under it, so an inline script, a
foreign origin or an inline event handler shows up as a console error (every test checks those)."""
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)  # tests only
DEMO_FPS = 5.0
DEMO_FRAMES = 120
GATE_WAIT_S = 3600.0  # a camera waits for its test to open the gate; teardown always opens it


@dataclass
class LiveServer:
    """The running service: its URL, its injected dependencies, and the pipeline gate."""

    url: str
    deps: ServiceDeps
    gate: threading.Event
    server: uvicorn.Server
    thread: threading.Thread
    frames: int = DEMO_FRAMES

    def start_pipeline(self) -> None:
        self.gate.set()

    def finish_pipeline(self) -> None:
        """Open the gate, wait until the camera analysed its frames, and flush events to the database."""
        self.gate.set()
        runner = self.deps.runner
        assert runner is not None
        # however slow the machine: wait while frames are being analysed, fail only on a stall
        guard = StallGuard(f"the demo camera's {DEMO_FRAMES} frames")
        guard.wait(runner.join, lambda: sum(s.frames for s in runner.status()))
        self.deps.flush()


def _gated_build(gate: threading.Event) -> Any:
    def build(*args: Any, **kwargs: Any) -> BuiltCamera:
        if not gate.wait(GATE_WAIT_S):
            raise RuntimeError("e2e: the pipeline gate was never opened")
        return build_camera(*args, **kwargs)

    return build


@dataclass
class Served:
    """An app served by uvicorn in a thread, on a port the OS picked."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)
        self.sock.close()


def serve(app: FastAPI, name: str) -> Served:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port; uvicorn serves on this very socket
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + scaled(30)
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name}: uvicorn did not start within {scaled(30):.0f} s")
        time.sleep(0.05)
    return Served(f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread, sock)


def with_strict_csp(app: FastAPI) -> None:
    @app.middleware("http")
    async def strict_csp(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("content-security-policy", STRICT_CSP)
        return response


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    cfg = load_config(DEMO)
    # the counter camera only (the entrance clip adds nothing the dashboard tests look at)
    cfg = cfg.model_copy(
        update={
            "cameras": [c.model_copy(update={"fps": DEMO_FPS, "enabled": c.id == "counter-cam"}) for c in cfg.cameras]
        }
    )
    data = tmp_path_factory.mktemp("e2e-service")
    settings = ServiceSettings(
        store=cfg,
        database_url=f"sqlite:///{data / 'storelens.db'}",
        realtime=False,
        max_frames=DEMO_FRAMES,
        overlay_max_hz=10.0,
    )
    gate = threading.Event()
    deps = ServiceDeps.build(settings, runner_kwargs={"build": _gated_build(gate)})
    app = create_app(settings, deps)
    app.include_router(dashboard_router())
    with_strict_csp(app)
    served = serve(app, "e2e-uvicorn")
    try:
        yield LiveServer(served.url, deps, gate, served.server, served.thread)
    finally:
        gate.set()  # a camera still waiting must not hold the shutdown
        served.stop()


@dataclass
class SecureServer:
    """The service as ``storelens serve`` runs it: security layer on (sessions, CSRF, roles, the
    real security headers), the dashboard's routes public. No pipelines: stored data only."""

    url: str
    deps: ServiceDeps
    passwords: dict[str, str]  # user name -> password; the user name is the role


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    data = tmp_path_factory.mktemp("e2e-secure")
    settings = ServiceSettings(
        store=load_config(DEMO), database_url=f"sqlite:///{data / 'storelens.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(settings)
    app = create_app(settings, deps)
    app.include_router(dashboard_router())
    install_security(app, deps.db, settings, hasher=FAST_HASHER, extra_rules=dashboard_rules(), run_retention=False)
    passwords = {}
    for role in ("viewer", "analyst"):
        passwords[role] = f"e2e pass {uuid.uuid4().hex}"
        create_user(deps.db, role, passwords[role], role, hasher=FAST_HASHER)
    served = serve(app, "e2e-uvicorn-secure")
    try:
        yield SecureServer(served.url, deps, passwords)
    finally:
        served.stop()


@dataclass
class OfflineServer:
    """The service as ``storelens serve --no-pipelines`` runs it over the database of an earlier
    run: no pipelines, no security layer; tests put the stored data in through ``deps``."""

    url: str
    deps: ServiceDeps


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineServer]:
    data = tmp_path_factory.mktemp("e2e-offline")
    settings = ServiceSettings(
        store=load_config(DEMO), database_url=f"sqlite:///{data / 'storelens.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(settings)
    app = create_app(settings, deps)
    app.include_router(dashboard_router())
    with_strict_csp(app)
    served = serve(app, "e2e-uvicorn-offline")
    try:
        yield OfflineServer(served.url, deps)
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (scripts/install-system-deps.sh)")
    profile = tmp_path_factory.mktemp("chromium-profile")  # fresh user data dir: no cache, no cookies
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
            locale="en-GB",
            timezone_id="UTC",
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Dashboard:
    """One browser page on the live server, with everything it logged as an error."""

    page: Page
    server: LiveServer | SecureServer | OfflineServer
    console_errors: list[str] = field(default_factory=list)
    response: PageResponse | None = None

    def open(self, query: str = "") -> Page:
        self.response = self.page.goto(f"{self.server.url}/{query}")
        self.page.wait_for_selector("body[data-ready='1']")
        return self.page


def _dashboard(context: BrowserContext, server: LiveServer | SecureServer | OfflineServer) -> Dashboard:
    # cookies are per host, not per port: a session from the secure server must not reach the other
    context.clear_cookies()
    page = context.new_page()
    dash = Dashboard(page, server)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            dash.console_errors.append(f"{msg.text} @ {msg.location.get('url', '')}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: dash.console_errors.append(f"uncaught: {exc}"))
    return dash


@pytest.fixture
def dashboard(browser_context: BrowserContext, live_server: LiveServer) -> Iterator[Dashboard]:
    dash = _dashboard(browser_context, live_server)
    try:
        yield dash
    finally:
        dash.page.close()


@pytest.fixture
def secure_dashboard(browser_context: BrowserContext, secure_server: SecureServer) -> Iterator[Dashboard]:
    dash = _dashboard(browser_context, secure_server)
    try:
        yield dash
    finally:
        dash.page.close()
        browser_context.clear_cookies()


@pytest.fixture
def offline_dashboard(browser_context: BrowserContext, offline_server: OfflineServer) -> Iterator[Dashboard]:
    dash = _dashboard(browser_context, offline_server)
    try:
        yield dash
    finally:
        dash.page.close()


@dataclass
class EditorServer:
    """The service over a store file of its own (zone edits are written to it) with the counter
    camera's redacted still made as `storelens snapshot` makes it; no pipelines, no security."""

    url: str
    deps: ServiceDeps
    config_path: Path


def write_editor_store(folder: Path) -> Path:
    """The demo store's counter camera, its zones and line, in a file the editor may rewrite."""
    import yaml

    data = yaml.safe_load(DEMO.read_text())
    counter = next(c for c in data["cameras"] if c["id"] == "counter-cam")
    counter["source"] = str((DEMO.parent / counter["source"]).resolve())
    data["cameras"] = [counter]
    data["zones"] = [z for z in data.get("zones", []) if z.get("camera") in (None, "counter-cam")]
    data["lines"] = [ln for ln in data.get("lines", []) if ln.get("camera") in (None, "counter-cam")]
    data["floor_plan"] = {"image": "plan.png", "metres_per_pixel": 0.02}  # 12 x 8 m
    write_floor_plan(folder / "plan.png")
    path = folder / "store.yaml"
    path.write_text("# the editor's test store\n" + yaml.safe_dump(data, sort_keys=False))
    return path


def write_floor_plan(path: Path) -> None:
    """A small shop's plan, 600 x 400 px at 2 cm a pixel: walls, shelf runs and a counter."""
    import cv2
    import numpy as np

    plan = np.full((400, 600, 3), 250, np.uint8)
    cv2.rectangle(plan, (4, 4), (595, 395), (60, 60, 60), 6)
    for x in (120, 260, 400):  # shelf runs
        cv2.rectangle(plan, (x, 60), (x + 50, 260), (190, 200, 210), -1)
    cv2.rectangle(plan, (470, 300), (590, 390), (170, 190, 230), -1)  # the counter
    cv2.line(plan, (240, 395), (360, 395), (250, 250, 250), 8)  # the door
    assert cv2.imwrite(str(path), plan)


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EditorServer]:
    import cv2

    from storelens.privacy.frames import FrameRedactor
    from storelens.privacy.snapshot import camera_snapshot, snapshot_path
    from storelens.vision.detector import YoloDetector

    folder = tmp_path_factory.mktemp("e2e-editor")
    path = write_editor_store(folder)
    store = load_config(path)
    detector = YoloDetector(store.detector_for("counter-cam"), base_dir=store.base_dir)
    redactor = FrameRedactor.build(face_detection=store.privacy.face_detection, with_person_detector=False)
    snap = camera_snapshot(store, "counter-cam", frames=8, detector=detector, redactor=redactor)
    still = snapshot_path(store, "counter-cam")
    still.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(still), snap.frame.image)
    settings = ServiceSettings(
        store=store, config_path=path, database_url=f"sqlite:///{folder / 'storelens.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(settings)
    app = create_app(settings, deps)
    app.include_router(dashboard_router())
    with_strict_csp(app)
    served = serve(app, "e2e-uvicorn-editor")
    try:
        yield EditorServer(served.url, deps, path)
    finally:
        served.stop()


@pytest.fixture
def editor_dashboard(browser_context: BrowserContext, editor_server: EditorServer) -> Iterator[Dashboard]:
    dash = _dashboard(browser_context, editor_server)  # type: ignore[arg-type]
    try:
        yield dash
    finally:
        dash.page.close()


class SlowDetector:
    """The real detector on a machine too slow for its camera: each image also waits ``delay_s``.
    How slow a store server is cannot be produced on demand, so the wait stands in for it; the
    pipeline, the pacing of the clip and the health the API reports are the real ones."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def detect(self, image: Any) -> Any:
        time.sleep(self.delay_s)
        return self.inner.detect(image)

    def detect_batch(self, images: Any) -> Any:
        time.sleep(self.delay_s * len(images))
        return self.inner.detect_batch(images)


@dataclass
class LaggingServer:
    """The demo counter camera paced in real time (10 fps) on a pipeline that manages ~2 fps."""

    url: str
    deps: ServiceDeps


@pytest.fixture(scope="module")
def lagging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaggingServer]:
    from storelens.vision.detector import YoloDetector

    cfg = load_config(DEMO)
    cfg = cfg.model_copy(
        update={"cameras": [c.model_copy(update={"fps": 10.0, "enabled": c.id == "counter-cam"}) for c in cfg.cameras]}
    )
    data = tmp_path_factory.mktemp("e2e-lagging")
    settings = ServiceSettings(store=cfg, database_url=f"sqlite:///{data / 'storelens.db'}", realtime=True)
    deps = ServiceDeps.build(
        settings,
        runner_kwargs={
            "detector_factory": lambda store, cam: SlowDetector(YoloDetector(store.detector_for(cam.id)), 0.45)
        },
    )
    app = create_app(settings, deps)
    app.include_router(dashboard_router())
    with_strict_csp(app)
    served = serve(app, "e2e-uvicorn-lagging")
    try:
        yield LaggingServer(served.url, deps)
    finally:
        served.stop()


@pytest.fixture
def lagging_dashboard(browser_context: BrowserContext, lagging_server: LaggingServer) -> Iterator[Dashboard]:
    dash = _dashboard(browser_context, lagging_server)  # type: ignore[arg-type]
    try:
        yield dash
    finally:
        dash.page.close()
