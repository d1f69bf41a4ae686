"""One router per resource. ``app.py`` includes the store's under ``/api/v1`` with their required
role (``ROUTER_ROLES``); ``service/security.py`` includes the security layer's own (``auth``,
``users``, ``tokens``, ``audit``, ``privacy_data``) when it secures the app."""
