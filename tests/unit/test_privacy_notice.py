"""The DPIA draft and the sign from the CLI, generated from the config (issue 19; GDPR Art. 35)."""

from __future__ import annotations

from pathlib import Path

import cv2
import yaml
from typer.testing import CliRunner

from storelens.cli.main import app
from storelens.config.store import StoreConfig
from storelens.lifecycle.notice import dpia_rows, render_privacy_page
from testdata import DEMO_DIR, DEMO_STORE

CAMS = [{"id": "cam", "source": str(DEMO_DIR / "entrance.mp4")}]


def test_dpia_names_purpose_data_retention_recipient_risk_and_mitigation(tmp_path: Path) -> None:
    runner = CliRunner()
    md = runner.invoke(app, ["privacy-report", str(DEMO_STORE), "--format", "md", "--no-db"])
    assert md.exit_code == 0, md.output
    assert "| Purpose | Data | Retention | Recipients | Risk | Mitigation |" in md.output
    assert "Emotion recognition (facial expression of shoppers)" in md.output and "Art. 35(3)(c)" in md.output
    html = runner.invoke(app, ["privacy-report", str(DEMO_STORE), "--format", "html", "--no-db"])
    assert html.exit_code == 0 and html.output.startswith("<!doctype html>") and "<th>Mitigation</th>" in html.output
    bad = runner.invoke(app, ["privacy-report", str(DEMO_STORE), "--format", "pdf", "--no-db"])
    assert bad.exit_code == 2 and "--format must be" in bad.output
    # emotion off (EU default): no emotion row, and the page says OFF
    off = StoreConfig(store_id="s", cameras=CAMS)
    assert not any("Emotion" in r.purpose for r in dpia_rows(off))
    assert all(r.risk and r.mitigation and r.retention for r in dpia_rows(off))
    assert "Emotion recognition: OFF" in render_privacy_page(off)


def test_sign_cli_writes_a_png_whose_qr_code_is_the_page(tmp_path: Path) -> None:
    out = tmp_path / "sign.png"
    url = "https://shop.example/privacy"
    res = CliRunner().invoke(app, ["privacy-sign", str(DEMO_STORE), str(out), "--url", url])
    assert res.exit_code == 0, res.output
    img = cv2.imread(str(out))
    assert img is not None and img.shape[:2] == (1754, 1240)
    assert cv2.QRCodeDetector().detectAndDecode(img)[0] == url
    # no address known: one clear error line, no traceback
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({"store_id": "s", "cameras": CAMS}))
    res = CliRunner().invoke(app, ["privacy-sign", str(cfg), str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "give --url or set privacy.public_url" in res.output
    assert "Traceback" not in res.output
