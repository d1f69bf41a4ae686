"""What every section of the store configuration shares: the strict base model and the bounded
scalar types (coordinates, ids) several sections use.

Every model forbids unknown keys (a typo must be an error, not a silently ignored setting) and every
field carries bounds, so `storelens validate` can point at the exact line that is wrong. The sections
are one module each in this package (``cameras``, ``detection``, ``behaviour``, ...) and
:mod:`storelens.config.store` puts them together as the YAML's top level.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]
"""Pixels or floor metres: finite and bounded, so an API edit can never write NaN/inf or 1e308
into the store file (a NaN vertex used to pass the zero-area check: every comparison is false)."""
Point = tuple[Coordinate, Coordinate]

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
"""Ids of stores, cameras, zones, rules...: they appear in events, MQTT topics and API paths, so they
are short and free of spaces and slashes."""


def check_backoff(first: float, longest: float, first_name: str, longest_name: str) -> None:
    """Retry and reconnect delays grow from a first delay up to a longest one; a longest below the
    first is a typo in one of them, so every section with such a pair refuses it the same way."""
    if longest < first:
        raise ValueError(f"{longest_name} must be >= {first_name}")


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, assignments are validated too (the API
    edits zones and calibration in place), and ``model_`` field names are allowed."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), validate_assignment=True)
