"""The store manager's web dashboard (static ES modules served by the FastAPI service)."""

from storelens.service.dashboard.router import dashboard_router, dashboard_rules, mount_dashboard

__all__ = ["dashboard_router", "dashboard_rules", "mount_dashboard"]
