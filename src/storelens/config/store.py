"""The whole store: the YAML file's top level, one field per section, and the checks that span
sections (the EU emotion default here, cross-references in :mod:`storelens.config.references`).

The sections are the other modules of this package; import each model from the module of its
section, and :class:`StoreConfig` from here (or from :mod:`storelens.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from storelens.config.actions import ActionsConfig
from storelens.config.base import Identifier
from storelens.config.behaviour import BehaviourConfig, ZoneAnalyticsConfig
from storelens.config.cameras import CameraConfig, FloorPlanConfig, LineConfig, ZoneConfig
from storelens.config.detection import DetectorConfig, TrackerConfig
from storelens.config.emotion import EmotionConfig
from storelens.config.intent import IntentConfig
from storelens.config.interaction import InteractionConfig
from storelens.config.outputs import OutputSections
from storelens.config.privacy import EU_JURISDICTIONS, PrivacyConfig
from storelens.config.security import SecurityConfig


class StoreConfig(OutputSections):
    """A whole store (the output sections, where events go, are inherited from :class:`OutputSections`)."""

    store_id: Identifier = Field(description="Store id used in events, topics and the API")
    name: str | None = Field(default=None, max_length=128)
    timezone: str = Field(default="UTC", max_length=64)
    cameras: list[CameraConfig] = Field(min_length=1)
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    zone_analytics: ZoneAnalyticsConfig = Field(default_factory=ZoneAnalyticsConfig)
    intent: IntentConfig = Field(default_factory=IntentConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    floor_plan: FloorPlanConfig | None = Field(default=None, description="Store floor plan (for heat maps)")
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    interaction: InteractionConfig = Field(default_factory=InteractionConfig)
    emotion: EmotionConfig = Field(default_factory=EmotionConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)

    # where the file was loaded from, to resolve relative paths; not part of the YAML
    base_dir: Path | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _emotion_default(cls, data: Any) -> Any:
        """In the EU emotion recognition is off unless the store turned it on explicitly: the AI Act
        forbids it on people at work (Art. 5(1)(f)) and makes it a high-risk use with notice duties
        otherwise (Annex III 1(c), Art. 50(3)), so it must be a decision, not a default."""
        if not isinstance(data, dict):
            return data
        priv = data.get("privacy")
        jur = priv.get("jurisdiction", "EU") if isinstance(priv, dict) else getattr(priv, "jurisdiction", "EU")
        if jur not in EU_JURISDICTIONS:
            return data
        emo = data.get("emotion")
        if emo is None:
            return {**data, "emotion": {"enabled": False}}
        if isinstance(emo, dict) and "enabled" not in emo:
            return {**data, "emotion": {**emo, "enabled": False}}
        if isinstance(emo, EmotionConfig) and "enabled" not in emo.model_fields_set:
            return {**data, "emotion": emo.model_copy(update={"enabled": False})}
        return data

    @model_validator(mode="after")
    def _references(self) -> StoreConfig:
        # The rules live in config/references.py (the loader reports all of them at once, with the
        # schema errors); a model raises the first. Its message starts with the field path, which
        # the loader uses to point at the right YAML line.
        from storelens.config.references import format_loc, reference_issues

        issues = reference_issues(self.model_dump(mode="json"))
        if issues:
            loc, message = issues[0]
            raise ValueError(f"{format_loc(loc)}: {message}")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)

    def zones_for(self, camera_id: str) -> list[ZoneConfig]:
        return [z for z in self.zones if z.space == "image" and z.camera == camera_id]

    def detector_for(self, camera_id: str) -> DetectorConfig:
        """The detector settings one camera runs with (its own input size, if it sets one)."""
        size = self.camera(camera_id).detector_input_size
        return self.detector if size is None else self.detector.model_copy(update={"input_size": size})

    def resolve_path(self, value: str) -> Path:
        p = Path(value).expanduser()
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        return p
