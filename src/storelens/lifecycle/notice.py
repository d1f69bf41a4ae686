"""The transparency pack: the public ``/privacy`` page, the printable sign and the DPIA draft.

All three are generated from the store's configuration (through :func:`build_report`), so they say
what this installation actually does: a notice someone typed once goes stale the day emotion is
switched on or retention changes. They follow the layered notice of the EDPB Guidelines 3/2019 on
video devices: the sign at the entrance is the first layer (who, why, the most important facts, a
QR code), the ``/privacy`` page the second (everything GDPR Art. 13 asks for); the DPIA draft is
the starting document GDPR Art. 35(3)(c) asks for systematic monitoring of a publicly accessible
area. Emotion recognition, where on, is stated on both layers (EU AI Act Art. 50(3)).

Nothing here reads images or the database's contents: only the configuration (and, for the DPIA
draft, the number of accounts per role).
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from storelens.config.store import StoreConfig
from storelens.lifecycle.report import PrivacyReport, build_report

__all__ = ["DpiaRow", "dpia_rows", "notice_lines", "render_dpia", "render_privacy_page", "render_sign_png"]

UNSET = "not set: ask the store"
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True, slots=True)
class DpiaRow:
    """One processing purpose of the DPIA draft."""

    purpose: str
    data: str
    retention: str
    recipients: str
    risk: str
    mitigation: str


def _emotion_line(cfg: StoreConfig) -> str:
    if not cfg.emotion.enabled:
        return "Emotion recognition: OFF. No facial expression is read."
    return (
        "Emotion recognition: ON, for shoppers only (never staff). A facial-expression category is read "
        "from a face held in memory for one frame and kept only as a smoothed per-visit value."
    )


def notice_lines(cfg: StoreConfig) -> dict[str, list[str]]:
    """The sections of the notice, in order (the page shows all, the sign the first ones)."""
    r = build_report(cfg)
    p = cfg.privacy
    return {
        "Who is responsible": [
            f"Controller: {p.controller or UNSET}",
            f"Contact for privacy questions and requests: {p.contact or UNSET}",
        ],
        "Why": [
            "Video analytics to understand how the store is used: footfall, queues, dwell at displays, "
            "product interest, staffing.",
            f"Legal basis: {p.legal_basis or UNSET}",
        ],
        "Emotion recognition": [_emotion_line(cfg)],
        "What is collected": [f"{c['what']} (linked to: {c['linked_to']})" for c in r.collected],
        "What is never collected": r.not_collected,
        "How long it is kept": [f"{k}: {v}" for k, v in r.retention.items()],
        "Who receives it": [
            *r.destinations,
            "store staff with an account, by role: viewers see aggregates only, analysts per-visit records "
            "(random ids), admins the configuration and the redacted live view; every export and live view is logged",
        ],
        "Your rights": [
            "You may ask for access, erasure or restriction and object to the processing (GDPR Art. 15-21); "
            "because no identity is kept, give the date, time and place of your visit.",
            "You may complain to your data-protection supervisory authority.",
        ],
    }


def render_privacy_page(cfg: StoreConfig) -> str:
    """The public ``/privacy`` page: a self-contained HTML document (no script, no external asset)."""
    sections = notice_lines(cfg)
    title = f"Privacy notice: video analytics at {cfg.name or cfg.store_id}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
        "color:#1b1b1b}h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:1.6rem;border-bottom:1px solid #ddd}"
        ".emotion{padding:.6rem .9rem;border-radius:6px;background:#f3f3f3}.on{background:#fff4d6}"
        "footer{margin-top:2rem;color:#666;font-size:.85rem}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Jurisdiction: {html.escape(cfg.privacy.jurisdiction)}. This page is generated from the "
        "system's configuration, so it describes what it does now.</p>",
    ]
    for heading, lines in sections.items():
        hid = heading.lower().replace(" ", "-")
        parts.append(f'<h2 id="{hid}">{html.escape(heading)}</h2>')
        if heading == "Emotion recognition":
            cls = "emotion on" if cfg.emotion.enabled else "emotion"
            parts.append(f'<p class="{cls}" id="emotion-status">{html.escape(lines[0])}</p>')
            continue
        parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>")
    parts.append(
        "<footer>storelens (AGPL-3.0). Faces and heads are blurred on every image that leaves the camera "
        "pipeline; no face image, face template or identity is stored.</footer></body></html>"
    )
    return "\n".join(parts) + "\n"


def _font(size: int, bold: bool = False) -> Font:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path("/usr/share/fonts/truetype/dejavu") / name
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int
) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        cand = f"{line} {w}".strip()
        if draw.textlength(cand, font=font) <= width or not line:
            line = cand
        else:
            lines.append(line)
            line = w
    if line:
        lines.append(line)
    return lines


def render_sign_png(cfg: StoreConfig, url: str) -> bytes:
    """The printable sign (A4 portrait at 150 dpi, PNG): the first layer of the notice, with a QR
    code to the ``/privacy`` page at ``url``."""
    import qrcode

    w, h, margin = 1240, 1754, 90
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    y = margin
    d.rectangle([0, 0, w, 28], fill=(30, 30, 30))
    for line in _wrap(d, "Video analytics in this store", _font(72, True), w - 2 * margin):
        d.text((margin, y), line, font=_font(72, True), fill="black")
        y += 88
    y += 10
    p = cfg.privacy
    facts = [
        f"Controller: {p.controller or UNSET}",
        "Purpose: how the store is used (footfall, queues, displays, staffing)",
        f"Legal basis: {p.legal_basis or UNSET}",
        "No identity: faces are blurred, no face image or template is stored",
        f"Kept: events {build_report(cfg).retention['events']}, aggregates {build_report(cfg).retention['aggregates']}",
        f"Questions and requests: {p.contact or UNSET}",
    ]
    body = _font(36)
    for fact in facts:
        for k, line in enumerate(_wrap(d, fact, body, w - 2 * margin - 40)):
            d.text((margin + (0 if k == 0 else 40), y), ("• " if k == 0 else "") + line, font=body, fill="black")
            y += 48
        y += 8
    y += 16
    on = cfg.emotion.enabled
    box = (255, 236, 179) if on else (235, 235, 235)
    emo = "EMOTION RECOGNITION: ON (shoppers only, never staff)" if on else "EMOTION RECOGNITION: OFF"
    lines = _wrap(d, emo, _font(42, True), w - 2 * margin - 40)
    d.rectangle([margin, y, w - margin, y + 30 + 56 * len(lines)], fill=box, outline="black", width=3)
    for k, line in enumerate(lines):
        d.text((margin + 20, y + 15 + 56 * k), line, font=_font(42, True), fill="black")
    y += 30 + 56 * len(lines) + 40
    qr = qrcode.QRCode(border=4, box_size=12, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(url)
    qr.make(fit=True)
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    side = min(560, h - y - 170)
    code = code.resize((side, side), Image.Resampling.NEAREST)
    img.paste(code, ((w - side) // 2, y))
    y += side + 20
    small = _font(32)
    for line in _wrap(d, f"Full notice, your rights: {url}", small, w - 2 * margin):
        d.text(((w - d.textlength(line, font=small)) / 2, y), line, font=small, fill="black")
        y += 42
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(150, 150))
    return buf.getvalue()


def dpia_rows(cfg: StoreConfig, report: PrivacyReport | None = None) -> list[DpiaRow]:
    """Each processing purpose with its data, retention, recipients, risk and mitigation."""
    r = report or build_report(cfg)
    ret = r.retention
    dest = "; ".join(r.destinations)
    rows = [
        DpiaRow(
            "Footfall, occupancy, queues (aggregate counts)",
            "counts per zone and time bucket (no subject)",
            f"aggregates: {ret['aggregates']}",
            f"{dest}; viewers and above",
            "low: no person in the data",
            "aggregation at the edge; time buckets; role-based access",
        ),
        DpiaRow(
            "Zone dwell, paths, shelf interaction, intent (per visit)",
            "zone entries/exits, floor path and median body height (calibrated cameras), reaches/pick-ups, "
            "intent score, linked to a random visit id",
            f"events: {ret['events']}; visits: {ret['visits']}; paths: {ret['paths']}",
            f"{dest}; analysts and above",
            "a visit could be singled out by time and place together with other knowledge (e.g. CCTV)",
            "random per-visit ids, no identity or appearance stored; short retention of paths and body "
            "height; aggregate-only "
            "mode available; deletion by time window; audited exports",
        ),
        DpiaRow(
            "Live view and snapshots (operations)",
            "video frames, redacted (heads and faces blurred, masks filled) before they leave the pipeline",
            f"snapshots: {ret['snapshots']}",
            "admins only",
            "imagery of people; re-identification from an unblurred frame",
            "redaction always on (no switch), proven by test; AES-256-GCM at rest; admin-only and audited",
        ),
        DpiaRow(
            "Staff exclusion",
            "time in staff_only zones and torso-colour counters per visit (memory), a staff flag on events",
            f"events: {ret['events']}",
            f"{dest}",
            "monitoring of employees",
            "staff are excluded from analytics and never read by the expression model; no per-employee "
            "record; consult staff representatives where national law requires",
        ),
    ]
    if cfg.emotion.enabled:
        rows.append(
            DpiaRow(
                "Emotion recognition (facial expression of shoppers)",
                "7-class expression probabilities from a face crop held in memory for one frame; a smoothed "
                "per-visit category with confidence; 'uncertain' readings dropped",
                f"events: {ret['events']}",
                f"{dest}; analysts and above",
                "AI Act high-risk use (Annex III 1(c)); prohibited on people at work (Art. 5(1)(f)); "
                "inaccuracy and bias (e.g. neutral faces read as sad, see docs/models)",
                "shoppers only (staff rules first, unknown not read, staff zones never read); off by default in "
                "the EU; calibrated confidence with abstention; notice and sign (Art. 50(3)); no identity, "
                "no protected attribute inferred (tested)",
            )
        )
    rows.append(
        DpiaRow(
            "Security and accountability",
            "user names, roles, sign-ins, exports, configuration changes, deletions (audit log)",
            f"audit: {ret['audit']}",
            "admins",
            "misuse of access",
            "argon2id passwords, lockout, TLS, hash-chained audit log",
        )
    )
    return rows


def render_dpia(cfg: StoreConfig, fmt: str, report: PrivacyReport | None = None) -> str:
    """The DPIA starting document as Markdown (``md``) or a self-contained HTML page (``html``)."""
    r = report or build_report(cfg)
    rows = dpia_rows(cfg, r)
    p = cfg.privacy
    head = [
        ("Store", f"{cfg.name or cfg.store_id} ({cfg.store_id}), jurisdiction {p.jurisdiction}"),
        ("Controller", p.controller or "(set privacy.controller)"),
        ("Contact", p.contact or "(set privacy.contact)"),
        ("Legal basis", p.legal_basis or "(set privacy.legal_basis)"),
        ("Cameras / privacy masks", f"{r.cameras} / {r.masks}"),
        ("Emotion recognition", "ON (shoppers only)" if r.emotion_recognition else "OFF"),
        ("Aggregate-only mode", "ON" if r.aggregate_only else "off"),
    ]
    if r.users_by_role is not None:
        head.append(("Active accounts", ", ".join(f"{k}: {v}" for k, v in sorted(r.users_by_role.items())) or "none"))
    why = (
        "Starting document for the data protection impact assessment (GDPR Art. 35; systematic monitoring of a "
        "publicly accessible area, Art. 35(3)(c)), generated from the configuration. The controller completes "
        "it: necessity and proportionality, consultation, sign-off."
    )
    cols = ("Purpose", "Data", "Retention", "Recipients", "Risk", "Mitigation")
    cells = [(x.purpose, x.data, x.retention, x.recipients, x.risk, x.mitigation) for x in rows]
    if fmt == "md":
        out = [f"# DPIA draft: {cfg.name or cfg.store_id}", "", why, ""]
        out += [f"- **{k}**: {v}" for k, v in head]
        out += ["", "## Processing", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells]
        out += ["", "## Never collected", "", *[f"- {x}" for x in r.not_collected]]
        out += ["", "## To complete", "", "- necessity and proportionality of each purpose", "- views of staff and"
                " their representatives", "- residual risk and sign-off (name, date)", ""]  # fmt: skip
        return "\n".join(out)
    if fmt == "html":
        e = html.escape
        out = [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            f"<title>DPIA draft: {e(cfg.name or cfg.store_id)}</title>",
            "<style>body{font:15px/1.45 system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:.35rem .5rem;vertical-align:top}th{background:#eee}</style>",
            f"</head><body><h1>DPIA draft: {e(cfg.name or cfg.store_id)}</h1><p>{e(why)}</p><ul>",
            *[f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in head],
            "</ul><h2>Processing</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>",
            *["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in cells],
            "</table><h2>Never collected</h2><ul>",
            *[f"<li>{e(x)}</li>" for x in r.not_collected],
            "</ul></body></html>",
        ]
        return "\n".join(out) + "\n"
    raise ValueError(f"unknown DPIA format {fmt!r} (md, html)")
