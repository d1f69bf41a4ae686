"""The storelens service: FastAPI REST + WebSocket API over the store's data and live pipelines."""

from storelens.service.app import API_PREFIX, create_app
from storelens.service.deps import ServiceDeps, ServiceSettings, require_role
from storelens.service.runner import CameraStatus, StoreRunner

__all__ = ["API_PREFIX", "CameraStatus", "ServiceDeps", "ServiceSettings", "StoreRunner", "create_app", "require_role"]
