"""Plain-text rendering of a behaviour summary (the per-zone table the demo prints).

The numbers come from :meth:`BehaviourStage.summary`; this module only lays them out, so the
terminal table, summary.json and the closing note of a run can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_zone_table"]

_COLUMNS = (
    ("zone", "name", "{}"),
    ("visits", "visits", "{}"),
    ("visitors", "unique_visitors", "{}"),
    ("median s", "median_dwell_s", "{:.1f}"),
    ("p90 s", "p90_dwell_s", "{:.1f}"),
    ("revisits", "revisits", "{}"),
    ("lingering", "lingering", "{}"),
    ("peak occ", "peak_occupancy", "{}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_zone_table(summary: Mapping[str, Any]) -> str:
    """Zones as aligned rows, then footfall per line and staff excluded."""
    header = [c[0] for c in _COLUMNS]
    rows = [[_cell(z.get(key), fmt) for _, key, fmt in _COLUMNS] for z in summary.get("zones", [])]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    ]
    for r in rows:
        lines.append(
            "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
        )
    for ln in summary.get("lines", []):
        lines.append(f"line {ln['name']}: in {ln['in']}, out {ln['out']}")
    staff = summary.get("staff", {})
    if staff.get("subjects"):
        lines.append(f"staff excluded: {staff['subjects']} ({', '.join(staff.get('reasons', []))})")
    return "\n".join(lines)
