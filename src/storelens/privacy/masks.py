"""Privacy masks: configured polygons filled solid in every outgoing frame of their camera.

Masks are drawn in a camera's native pixels (like image-space zones); frames may be downscaled
before they are analysed (``cameras[].max_width``), so the polygons are scaled to the frame they
are applied to.
"""

from __future__ import annotations

from storelens.config.privacy import PrivacyConfig
from storelens.config.store import StoreConfig

Polygon = list[tuple[float, float]]


def masks_for(cfg: StoreConfig | PrivacyConfig, camera_id: str, scale: float = 1.0) -> list[Polygon]:
    """The mask polygons of ``camera_id``, scaled by ``scale`` (frame pixels / native pixels)."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    privacy = cfg.privacy if isinstance(cfg, StoreConfig) else cfg
    return [[(x * scale, y * scale) for x, y in m.points] for m in privacy.masks if m.camera == camera_id]
