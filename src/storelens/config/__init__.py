"""Store configuration: schema and loader."""

from storelens.config.loader import ConfigError, ConfigIssue, check_config, load_checked, load_config, parse_config
from storelens.config.schema import CameraConfig, StoreConfig, ZoneConfig, ZoneKind

__all__ = [
    "CameraConfig",
    "ConfigError",
    "ConfigIssue",
    "StoreConfig",
    "ZoneConfig",
    "ZoneKind",
    "check_config",
    "load_checked",
    "load_config",
    "parse_config",
]
