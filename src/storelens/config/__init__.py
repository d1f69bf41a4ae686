"""Store configuration: schema and loader."""

from storelens.config.cameras import CameraConfig, ZoneConfig, ZoneKind
from storelens.config.loader import ConfigError, ConfigIssue, load_config, parse_config
from storelens.config.store import StoreConfig

__all__ = [
    "CameraConfig",
    "ConfigError",
    "ConfigIssue",
    "StoreConfig",
    "ZoneConfig",
    "ZoneKind",
    "load_config",
    "parse_config",
]
