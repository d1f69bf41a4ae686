"""storelens: privacy-first retail video analytics."""

__version__ = "0.1.0"
