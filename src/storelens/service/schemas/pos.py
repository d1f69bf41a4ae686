"""POS transactions and conversion."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from storelens.service.schemas.common import ApiModel


class _PosModel(ApiModel):
    # "register" is a BaseModel attribute, so the field is register_id with the public name as alias
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class PosTransactionIn(_PosModel):
    timestamp: datetime = Field(description="ISO 8601; without an offset it is store-local time")
    register_id: str = Field(
        alias="register", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", description="Till id"
    )
    basket_value: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    transaction_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")
    items: int | None = Field(default=None, ge=0, le=1_000_000)
    categories: list[str] | None = Field(
        default=None,
        max_length=100,
        description="Product categories in the basket, named as on the shelf zones' category (per-zone conversion)",
    )


class PosBatchIn(ApiModel):
    transactions: list[PosTransactionIn] = Field(min_length=1, max_length=10_000)


class PosImportOut(ApiModel):
    rows: int
    inserted: int
    duplicates: int


class PosTransactionOut(_PosModel):
    transaction_id: str
    register_id: str = Field(alias="register", description="Till id")
    timestamp: datetime
    basket_value: float
    currency: str | None
    items: int | None
    categories: list[str] | None = None
    source: str


class ConversionRowOut(ApiModel):
    start: datetime = Field(description="Bucket start in store-local time")
    transactions: int
    visits: int = Field(description="Shopper visits that started in the bucket (staff excluded)")
    revenue: float
    conversion_rate: float | None = Field(description="transactions / visits; null without visits")
    average_basket: float | None


class TillMatchOut(_PosModel):
    transaction_id: str
    register_id: str = Field(alias="register", description="Till id")
    timestamp: datetime
    basket_value: float
    visit_id: str | None = Field(description="The checkout visit matched to the sale; null if none")
    zone_id: str | None
    stay_start: datetime | None
    stay_end: datetime | None
    queue_wait_s: float | None


class CheckoutJoinOut(ApiModel):
    window_s: float
    transactions: int
    matched: int
    match_rate: float | None
    checkout_stays: int
    unmatched_stays: int = Field(description="Checkout stays with no sale (walk-aways, staff, returns)")
    mean_queue_wait_s: float | None


class ConversionOut(ApiModel):
    granularity: Literal["hour", "day"]
    timezone: str
    rows: list[ConversionRowOut]
    totals: ConversionRowOut
    checkout: CheckoutJoinOut


class TillMatchListOut(ApiModel):
    summary: CheckoutJoinOut
    items: list[TillMatchOut]
