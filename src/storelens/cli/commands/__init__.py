"""CLI sub-commands, one module per capability; each exposes register(app)."""
