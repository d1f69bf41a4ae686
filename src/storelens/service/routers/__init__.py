"""One router per resource; ``app.py`` includes them under ``/api/v1`` with their required role."""
