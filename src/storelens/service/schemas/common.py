"""Shared request/response pieces: error bodies, event-type filters, identifiers, pages."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from storelens.events.models import EventType

ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"

KNOWN_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
TYPE_PREFIXES: tuple[str, ...] = tuple(sorted({t.split(".", 1)[0] + "." for t in KNOWN_TYPES}))
TYPE_FILTER_VALUES: tuple[str, ...] = KNOWN_TYPES + TYPE_PREFIXES


def check_type_filter(value: str) -> str:
    """An exact event type, or a category prefix ending in '.' ("zone." = every zone event)."""
    if value not in TYPE_FILTER_VALUES:
        raise ValueError(
            f"unknown event type {value!r}: use one of {', '.join(KNOWN_TYPES)} "
            f"or a prefix such as {', '.join(TYPE_PREFIXES)}"
        )
    return value


TypeFilter = Annotated[
    str,
    AfterValidator(check_type_filter),
    WithJsonSchema({"type": "string", "enum": list(TYPE_FILTER_VALUES)}),
]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def of_record(cls, record: object) -> Self:
        """The API row of a storage record, read by this model's own field names: a column the
        record gains (or one it keeps to itself, like an outbox row's url and body) reaches the API
        only when the model names it, so API models and records stay apart without a copy per field."""
        return cls.model_validate(record, from_attributes=True)


class ErrorBody(ApiModel):
    """Every 4xx/5xx body: ``detail`` is a message, or (422) a list of field errors."""

    detail: str | list[dict[str, object]] = Field(description="What was wrong")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be parsed (e.g. malformed JSON)"},
    404: {"model": ErrorBody, "description": "Unknown resource (the message names it)"},
    422: {"model": ErrorBody, "description": "Invalid parameter or body"},
    503: {"model": ErrorBody, "description": "Database unavailable"},
}
