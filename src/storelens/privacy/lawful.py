"""Whether emotion recognition runs for a store, and why: the lines ``storelens validate`` prints.

Emotion recognition is the one capability of storelens that the law singles out: the EU AI Act
(Regulation 2024/1689) forbids inferring the emotions of people at work (Art. 5(1)(f)), lists it as
high-risk (Annex III 1(c)) and obliges deployers to inform the people exposed to it (Art. 50(3)).
So the decision is spelled out where the store checks its configuration, not left to a default
nobody reads: which jurisdiction, on or off, why, and whether staff can be kept out of it on each
camera (a subject is read only once the staff rules have cleared it as a shopper).
"""

from __future__ import annotations

from storelens.config.cameras import ZoneKind
from storelens.config.store import StoreConfig

__all__ = ["emotion_status", "staff_rule_cameras"]


def staff_rule_cameras(cfg: StoreConfig) -> dict[str, bool]:
    """Per camera: whether any staff rule can tell staff apart there (a staff_only zone it sees,
    or a uniform-colour rule). Without one, nobody on that camera becomes a known shopper."""
    uniform = cfg.behaviour.staff.uniform is not None
    floor_staff = any(z.kind == ZoneKind.STAFF_ONLY and z.space == "floor" for z in cfg.zones)
    out = {}
    for cam in cfg.cameras:
        zone = any(z.kind == ZoneKind.STAFF_ONLY for z in cfg.zones_for(cam.id))
        out[cam.id] = uniform or zone or (floor_staff and cam.calibration is not None)
    return out


def emotion_status(cfg: StoreConfig) -> list[str]:
    """One line saying whether emotion recognition is on and why, then one per consequence."""
    p = cfg.privacy
    where = f"jurisdiction {p.jurisdiction}"
    if not cfg.emotion.enabled:
        if p.in_eu:
            return [
                f"emotion: OFF ({where}: off unless emotion.enabled is set; the EU AI Act forbids emotion "
                "recognition on people at work, Art. 5(1)(f), and makes it high-risk otherwise, Annex III 1(c))"
            ]
        return [f"emotion: OFF (emotion.enabled: false, {where})"]
    lines = [f"emotion: ON ({where}; shoppers only: staff rules run first, unknown subjects are not read)"]
    if p.in_eu:
        lines.append(
            "emotion: enabled explicitly in the EU: a high-risk use (AI Act Annex III 1(c)); people must be told "
            "(Art. 50(3): print the sign, storelens privacy-sign) and a DPIA is due (GDPR Art. 35(3)(c): "
            "storelens privacy-report --format md)"
        )
    blind = [cam for cam, ok in staff_rule_cameras(cfg).items() if not ok]
    if blind:
        lines.append(
            f"emotion: nobody is read on {', '.join(blind)}: no staff rule can tell staff apart there "
            "(add a staff_only zone or behaviour.staff.uniform)"
        )
    if not p.contact:
        lines.append("emotion: set privacy.contact: the /privacy page and the sign must say whom to ask")
    return lines
