"""Store configuration: schema and loader."""

from storelens.config.loader import ConfigError, ConfigIssue, load_config, parse_config
from storelens.config.schema import CameraConfig, StoreConfig, ZoneConfig, ZoneKind

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
