"""Privacy by design (PRIVACY.md): retention per class of data, aggregate-only mode, privacy
masks, the controller's notice details and the store's jurisdiction.

Redaction of heads and faces on outgoing frames has no setting here: it is always on.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from storelens.config.base import Identifier, Point, StrictModel


class RetentionConfig(StrictModel):
    """How long each class of data is kept, in days (``null`` = keep until deleted by hand).

    Raw per-visit data (events, visits, paths) should go first; aggregates carry no subject ids
    and may outlive it (the reports are built on them). The purge runs every
    ``purge_interval_s`` inside ``storelens serve`` and on demand with ``storelens purge``."""

    events_days: float | None = Field(default=30, gt=0, le=3650, description="Events, alerts and promotions")
    visits_days: float | None = Field(default=30, gt=0, le=3650, description="Visit rows (dwell, intent timeline)")
    paths_days: float | None = Field(
        default=7,
        gt=0,
        le=3650,
        description="Movement paths and body height in visits and their events: every payload field marked "
        "retention='paths' (stripped first)",
    )
    aggregates_days: float | None = Field(
        default=400, gt=0, le=36500, description="Per-zone time-bucket aggregates and POS transactions"
    )
    snapshots_days: float | None = Field(default=7, gt=0, le=3650, description="Stored (redacted, encrypted) images")
    audit_days: float | None = Field(default=400, gt=0, le=36500, description="Audit log records")
    purge_interval_s: float = Field(default=3600, ge=60, le=7 * 86400, description="Seconds between scheduled purges")

    @model_validator(mode="after")
    def _paths_within_visits(self) -> RetentionConfig:
        if self.paths_days is not None and self.visits_days is not None and self.paths_days > self.visits_days:
            raise ValueError("paths_days must be <= visits_days (a path cannot outlive its visit)")
        return self


class PrivacyMaskConfig(StrictModel):
    """A polygon, in the native pixels of ``camera``, filled solid in every frame that leaves the
    pipeline (a neighbour's window, a staff room door, a till's PIN pad)."""

    camera: Identifier = Field(description="Camera whose image the polygon is drawn on")
    name: str | None = Field(default=None, max_length=128, description="What is masked, e.g. 'PIN pad'")
    points: list[Point] = Field(min_length=3, max_length=256, description="Polygon vertices [[x, y], ...]")


EU_JURISDICTIONS = frozenset(
    [
        "EU",
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
"""``privacy.jurisdiction`` values under the EU AI Act: the Union and its 27 member states."""


class PrivacyConfig(StrictModel):
    """Privacy by design (PRIVACY.md): redaction, retention, aggregate-only mode, masks, notice text.

    Redaction of heads and faces on every outgoing frame has no switch: it is always on."""

    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    aggregate_only: bool = Field(
        default=False,
        description="No per-visit record leaves the edge: events lose their subject id, per-visit event "
        "types are dropped, and the visit/event/export API answers 404",
    )
    masks: list[PrivacyMaskConfig] = Field(default_factory=list, description="Privacy-mask polygons per camera")
    face_detection: bool = Field(
        default=True, description="Also blur faces found by the face detector (in addition to pose head boxes)"
    )
    snapshot_dir: str | None = Field(
        default=None, description="Encrypted snapshot/clip store (default: 'snapshots' next to the database)"
    )
    controller: str | None = Field(default=None, max_length=256, description="Data controller named in the report")
    contact: str | None = Field(default=None, max_length=256, description="Privacy contact named in the report")
    jurisdiction: str = Field(
        default="EU",
        pattern=r"^(EU|[A-Z]{2})$",
        description="Where the store is: 'EU' or an ISO 3166-1 alpha-2 country code. In the EU (and its "
        "member states' codes) emotion recognition is off unless emotion.enabled is set explicitly",
    )
    legal_basis: str | None = Field(
        default=None,
        max_length=512,
        description="The GDPR Art. 6 legal basis the controller relies on (shown on /privacy and in the DPIA draft), "
        "e.g. 'legitimate interests (Art. 6(1)(f)): store layout and staffing'",
    )
    public_url: str | None = Field(
        default=None,
        max_length=512,
        description="Address customers reach the /privacy page at (the QR code on the printed sign); "
        "default: the API's own address",
    )

    @property
    def in_eu(self) -> bool:
        """The store is under the EU AI Act (Regulation 2024/1689) and the GDPR."""
        return self.jurisdiction in EU_JURISDICTIONS
