"""Point-of-sale integration: the CSV schema, import, conversion rate and the till-visit join.

POS CSV schema (UTF-8, comma separated, one header row; column order free, unknown columns are an
error so a mis-mapped export is noticed rather than half imported):

==================  ========  ===========================================================
column              required  meaning
==================  ========  ===========================================================
``timestamp``       yes       ISO 8601 time of the sale (``2025-03-01T14:05:09+01:00``);
                              without an offset it is read in the store's time zone
``register``        yes       till / register id (letters, digits, ``_.-``; max 64)
``basket_value``    yes       total paid, a number >= 0 (``12.50``); refunds are not sales
``currency``        no        ISO 4217 code (``EUR``)
``transaction_id``  no        the POS's own id; when absent a stable id is derived from
                              (register, timestamp, basket_value) so re-imports are no-ops
``items``           no        number of items, an integer >= 0
``categories``      no        product categories in the basket, ``;`` separated
                              (``Coffee;Tea``), named as on the shelf zones' ``category``;
                              gives the per-zone conversion of the KPI funnel
==================  ========  ===========================================================

An import validates every line first and stores nothing when any line is wrong, listing every bad
line (file line numbers): a partly imported day would silently skew the conversion rate, and
re-importing a fixed file is harmless because inserts are idempotent by transaction id.

Conversion rate = transactions / shopper visits, per hour or per day of store-local time (staff
visits excluded). The till join matches each transaction to the checkout (or queue) zone stay of a
visit that was in progress at the sale, or had ended at most ``window_s`` before it, nearest end
first and each stay at most once, which gives the share of transactions seen by the cameras and
the queue wait of the shoppers who bought.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from storelens.config.cameras import ZoneKind
from storelens.events.models import EventType
from storelens.storage.database import Database
from storelens.storage.models import EVENTS, VISITS
from storelens.storage.records import PosTransaction, insert_pos_transactions, list_pos_transactions

REQUIRED_COLUMNS = ("timestamp", "register", "basket_value")
OPTIONAL_COLUMNS = ("currency", "transaction_id", "items", "categories")
MAX_CATEGORIES = 100
MAX_ERRORS = 50
MAX_BASKET = 1e9

_REGISTER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TXN_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_CATEGORY = re.compile(r"^[^\x00-\x1f\x7f;]{1,64}$")

Granularity = Literal["hour", "day"]


class PosCsvError(ValueError):
    """A POS file with bad lines; ``issues`` holds one message per problem (with its line)."""

    def __init__(self, issues: Sequence[str]) -> None:
        self.issues = list(issues)
        shown = "\n".join(self.issues[:MAX_ERRORS])
        more = f"\n... and {len(self.issues) - MAX_ERRORS} more" if len(self.issues) > MAX_ERRORS else ""
        super().__init__(f"{len(self.issues)} problem(s) in POS data; nothing imported:\n{shown}{more}")


def store_timezone(name: str) -> tzinfo:
    """The store's zone (IANA name); a clear error instead of a KeyError for a typo."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'Europe/Berlin')") from None


def derive_transaction_id(store_id: str, register: str, ts: datetime, basket_value: float) -> str:
    """A stable id for a POS row that has none: re-importing the same file inserts nothing new."""
    key = f"{store_id}|{register}|{ts.astimezone(UTC).isoformat()}|{basket_value:.4f}"
    return "pos-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def parse_timestamp(text: str, tz: tzinfo) -> datetime:
    """ISO 8601; naive values are in ``tz`` (POS systems usually export local time)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=tz)
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp {text!r} is out of range") from None


def make_transaction(
    store_id: str,
    *,
    timestamp: datetime,
    register: str,
    basket_value: float,
    currency: str | None = None,
    transaction_id: str | None = None,
    items: int | None = None,
    source: str = "api",
    categories: Sequence[str] | None = None,
) -> PosTransaction:
    """Validate one transaction's fields (the same rules for CSV rows and API bodies)."""
    if not _REGISTER.match(register):
        raise ValueError(f"register {register!r} must be 1-64 letters, digits, '_', '.' or '-'")
    if not math.isfinite(basket_value) or not 0 <= basket_value <= MAX_BASKET:
        raise ValueError(f"basket_value must be a number in [0, {MAX_BASKET:.0f}], got {basket_value}")
    if currency is not None and not _CURRENCY.match(currency):
        raise ValueError(f"currency must be a 3-letter ISO 4217 code such as EUR, got {currency!r}")
    if transaction_id is not None and not _TXN_ID.match(transaction_id):
        raise ValueError(f"transaction_id must be 1-64 of letters, digits and _.:/-, got {transaction_id!r}")
    if items is not None and not 0 <= items <= 1_000_000:
        raise ValueError(f"items must be an integer in [0, 1000000], got {items}")
    cats = normalise_categories(categories)
    ts = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
    ts = ts.astimezone(UTC)
    txn_id = transaction_id or derive_transaction_id(store_id, register, ts, basket_value)
    return PosTransaction(
        id=txn_id,
        store_id=store_id,
        register_id=register,
        ts=ts,
        basket_value=float(basket_value),
        items=items,
        currency=currency,
        source=source,
        categories=cats,
    )


def category_key(name: str) -> str:
    """How a POS category is matched to a zone's ``category``: trimmed, case ignored."""
    return name.strip().casefold()


def normalise_categories(categories: Sequence[str] | None) -> tuple[str, ...] | None:
    """The basket's categories, trimmed, each once, in their first order; None when none given.

    Each is 1-64 characters without control characters or ``;`` (the CSV separator); a basket lists
    at most ``MAX_CATEGORIES``. Matching to a zone's ``category`` ignores case
    (:func:`category_key`)."""
    if categories is None:
        return None
    if isinstance(categories, str):
        raise ValueError("categories must be a list of names, not one string")
    out: list[str] = []
    for raw in categories:
        name = raw.strip()
        if not _CATEGORY.match(name):
            raise ValueError(f"category {raw!r} must be 1-64 characters without ';' or control characters")
        if name not in out:
            out.append(name)
    if len(out) > MAX_CATEGORIES:
        raise ValueError(f"a basket lists at most {MAX_CATEGORIES} categories, got {len(out)}")
    return tuple(out) or None


def parse_pos_csv(text: str, store_id: str, *, timezone: str = "UTC", source: str = "csv") -> list[PosTransaction]:
    """Every row of a POS CSV as a transaction, or :class:`PosCsvError` listing every bad line."""
    tz = store_timezone(timezone)
    if text.startswith("\ufeff"):  # Excel's UTF-8 byte-order mark
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise PosCsvError(["line 1: empty file (expected a header row: timestamp,register,basket_value,...)"]) from None
    except csv.Error as exc:
        raise PosCsvError([f"line 1: {exc}"]) from None
    names = [h.strip().lower() for h in header]
    issues: list[str] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    unknown = [c for c in names if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    dupes = sorted({c for c in names if names.count(c) > 1})
    if missing:
        issues.append(f"line 1: missing column(s) {', '.join(missing)}")
    if unknown:
        allowed = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        issues.append(f"line 1: unknown column(s) {', '.join(unknown)} (allowed: {allowed})")
    if dupes:
        issues.append(f"line 1: duplicate column(s) {', '.join(dupes)}")
    if issues:
        raise PosCsvError(issues)
    col = {n: i for i, n in enumerate(names)}
    out: list[PosTransaction] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                issues.append(f"line {line}: {len(row)} field(s), the header has {len(names)}")
                continue

            def get(name: str, row: list[str] = row) -> str | None:
                i = col.get(name)
                value = row[i].strip() if i is not None else ""
                return value or None

            try:
                ts_text = get("timestamp")
                register = get("register")
                value_text = get("basket_value")
                if ts_text is None or register is None or value_text is None:
                    raise ValueError("timestamp, register and basket_value must not be empty")
                try:
                    ts = parse_timestamp(ts_text, tz)
                except ValueError as exc:
                    raise ValueError(f"timestamp {ts_text!r} is not ISO 8601 ({exc})") from None
                try:
                    value = float(value_text)
                except ValueError:
                    raise ValueError(f"basket_value {value_text!r} is not a number (use '.' for decimals)") from None
                items_text = get("items")
                try:
                    items = int(items_text) if items_text is not None else None
                except ValueError:
                    raise ValueError(f"items {items_text!r} is not an integer") from None
                cats_text = get("categories")
                txn = make_transaction(
                    store_id,
                    timestamp=ts,
                    register=register,
                    basket_value=value,
                    currency=get("currency"),
                    transaction_id=get("transaction_id"),
                    items=items,
                    source=source,
                    categories=[c for c in cats_text.split(";") if c.strip()] if cats_text else None,
                )
            except ValueError as exc:
                issues.append(f"line {line}: {exc}")
                continue
            if txn.id in seen:
                issues.append(f"line {line}: transaction {txn.id!r} repeats line {seen[txn.id]}")
                continue
            seen[txn.id] = line
            out.append(txn)
    except csv.Error as exc:
        issues.append(f"line {reader.line_num}: {exc}")
    if issues:
        raise PosCsvError(issues)
    return out


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.rows - self.inserted


def import_transactions(db: Database, transactions: Sequence[PosTransaction], *, chunk: int = 2000) -> ImportResult:
    """Store transactions in one transaction (all or nothing), ignoring ids already stored."""
    inserted = 0
    with db.begin() as conn:
        for i in range(0, len(transactions), chunk):
            inserted += insert_pos_transactions(conn, transactions[i : i + chunk])
    return ImportResult(rows=len(transactions), inserted=inserted)


def import_pos_csv(db: Database, text: str, store_id: str, *, timezone: str = "UTC") -> ImportResult:
    """Parse (all lines valid, or :class:`PosCsvError`) and store a POS CSV export."""
    return import_transactions(db, parse_pos_csv(text, store_id, timezone=timezone))


# ---------------------------------------------------------------------------------- conversion


@dataclass(frozen=True, slots=True)
class ConversionRow:
    """One hour or day (store-local) of sales against shopper visits."""

    start: datetime  # bucket start, aware in the store's zone
    transactions: int
    visits: int
    revenue: float
    conversion_rate: float | None  # transactions / visits; None without visits
    average_basket: float | None  # revenue / transactions; None without sales


def _floor_local(ts: datetime, tz: tzinfo, granularity: Granularity) -> datetime:
    local = ts.astimezone(tz)
    if granularity == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_starts(since: datetime, until: datetime, tz: tzinfo, granularity: Granularity) -> list[datetime]:
    """Local hour/day starts covering [since, until). Hours step in UTC (a DST change gives a 23 or
    25 hour day, never a missing or doubled bucket); days step by calendar date."""
    out: list[datetime] = []
    cur = _floor_local(since, tz, granularity)
    if granularity == "hour":
        step = cur.astimezone(UTC)
        end = until.astimezone(UTC)
        while step < end:
            out.append(step.astimezone(tz))
            step += timedelta(hours=1)
        return out
    day: date = cur.date()
    while True:
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        if start >= until:
            return out
        out.append(start)
        day += timedelta(days=1)


def conversion_by_bucket(
    transactions: Iterable[PosTransaction],
    visit_starts: Iterable[datetime],
    *,
    since: datetime,
    until: datetime,
    granularity: Granularity = "hour",
    timezone: str = "UTC",
) -> list[ConversionRow]:
    """Pure: per bucket counts, conversion rate and average basket (see the module docstring)."""
    tz = store_timezone(timezone)
    starts = bucket_starts(since, until, tz, granularity)
    index = {s.astimezone(UTC): i for i, s in enumerate(starts)}
    n_txn = [0] * len(starts)
    revenue = [0.0] * len(starts)
    visits = [0] * len(starts)

    def slot(ts: datetime) -> int | None:
        if not since <= ts < until:
            return None
        return index.get(_floor_local(ts, tz, granularity).astimezone(UTC))

    for t in transactions:
        i = slot(t.ts)
        if i is not None:
            n_txn[i] += 1
            revenue[i] += t.basket_value
    for v in visit_starts:
        i = slot(v)
        if i is not None:
            visits[i] += 1
    return [
        ConversionRow(
            start=s,
            transactions=n_txn[i],
            visits=visits[i],
            revenue=round(revenue[i], 2),
            conversion_rate=round(n_txn[i] / visits[i], 4) if visits[i] else None,
            average_basket=round(revenue[i] / n_txn[i], 2) if n_txn[i] else None,
        )
        for i, s in enumerate(starts)
    ]


@dataclass(frozen=True, slots=True)
class CheckoutStay:
    """A visit's stay in a checkout or queue zone (from a ``zone.exited`` event and its dwell)."""

    subject: str
    zone_id: str
    kind: str  # "checkout" | "queue"
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class TillMatch:
    """A transaction and the checkout stay it was matched to (``None`` when no stay fits)."""

    transaction_id: str
    register: str
    ts: datetime
    basket_value: float
    subject: str | None = None
    zone_id: str | None = None
    stay_start: datetime | None = None
    stay_end: datetime | None = None
    queue_wait_s: float | None = None  # queue-zone entry to checkout-zone entry of the same visit


@dataclass(frozen=True, slots=True)
class TillJoin:
    matches: list[TillMatch]
    checkout_stays: int
    unmatched_stays: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def matched(self) -> int:
        return sum(1 for m in self.matches if m.subject is not None)

    @property
    def match_rate(self) -> float | None:
        return round(self.matched / len(self.matches), 4) if self.matches else None

    @property
    def mean_queue_wait_s(self) -> float | None:
        waits = [m.queue_wait_s for m in self.matches if m.queue_wait_s is not None]
        return round(sum(waits) / len(waits), 2) if waits else None


def join_transactions_to_stays(
    transactions: Sequence[PosTransaction], stays: Sequence[CheckoutStay], *, window_s: float = 120.0
) -> TillJoin:
    """Pure: match each sale to one checkout stay in progress at the sale or ended at most
    ``window_s`` before it (the receipt often prints as the shopper walks off). Sales are taken in
    time order and each takes the unused candidate whose end is nearest the sale, so two sales
    never claim one shopper. Queue stays are not matched themselves; they give the wait of the
    matched visit (queue entry to checkout entry)."""
    if window_s < 0:
        raise ValueError("window_s must be >= 0")
    checkout = sorted((s for s in stays if s.kind == ZoneKind.CHECKOUT), key=lambda s: (s.start, s.subject))
    queue_first: dict[str, datetime] = {}
    for s in stays:
        if s.kind == ZoneKind.QUEUE:
            prev = queue_first.get(s.subject)
            queue_first[s.subject] = s.start if prev is None else min(prev, s.start)
    used: set[int] = set()
    window = timedelta(seconds=window_s)
    matches: list[TillMatch] = []
    for t in sorted(transactions, key=lambda x: (x.ts, x.id)):
        best: int | None = None
        best_gap: timedelta | None = None
        for i, s in enumerate(checkout):
            if i in used or s.start > t.ts or t.ts > s.end + window:
                continue
            gap = abs(s.end - t.ts)
            if best_gap is None or gap < best_gap:
                best, best_gap = i, gap
        if best is None:
            matches.append(TillMatch(t.id, t.register_id, t.ts, t.basket_value))
            continue
        used.add(best)
        s = checkout[best]
        q = queue_first.get(s.subject)
        wait = (s.start - q).total_seconds() if q is not None and q <= s.start else None
        matches.append(TillMatch(t.id, t.register_id, t.ts, t.basket_value, s.subject, s.zone_id, s.start, s.end, wait))
    return TillJoin(matches=matches, checkout_stays=len(checkout), unmatched_stays=len(checkout) - len(used))


# ----------------------------------------------------------------------------- database reads


def shopper_visit_starts(db: Database, store_id: str, since: datetime, until: datetime) -> list[datetime]:
    """Start times of the non-staff visits that began in [since, until)."""
    c = VISITS.c
    stmt = (
        sa.select(c.started_at)
        .where(c.store_id == store_id, c.started_at >= since, c.started_at < until, c.is_staff == sa.false())
        .order_by(c.started_at)
    )
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(stmt)]


def checkout_stays(
    db: Database, store_id: str, zone_kinds: dict[str, str], since: datetime, until: datetime
) -> list[CheckoutStay]:
    """Stays in checkout/queue zones (``zone_kinds``: zone id -> kind) that ended in [since, until),
    from ``zone.exited`` events (their ``dwell_s`` gives the start); staff-flagged stays are left out."""
    zones = [z for z, k in zone_kinds.items() if k in (ZoneKind.CHECKOUT, ZoneKind.QUEUE)]
    if not zones:
        return []
    c = EVENTS.c
    stmt = (
        sa.select(c.subject, c.zone_id, c.ts, c.payload)
        .where(
            c.store_id == store_id,
            c.type == EventType.ZONE_EXITED.value,
            c.zone_id.in_(zones),
            c.ts >= since,
            c.ts < until,
        )
        .order_by(c.ts, c.id)
    )
    out: list[CheckoutStay] = []
    with db.engine.connect() as conn:
        for row in conn.execute(stmt):
            subject: str | None = row.subject
            zone_id: str = row.zone_id
            ts: datetime = row.ts
            p: dict[str, Any] = row.payload or {}
            if not subject or p.get("staff") is True:
                continue
            dwell = p.get("dwell_s")
            if isinstance(dwell, bool) or not isinstance(dwell, int | float) or not math.isfinite(dwell) or dwell < 0:
                continue
            out.append(CheckoutStay(subject, zone_id, zone_kinds[zone_id], ts - timedelta(seconds=dwell), ts))
    return out


def load_transactions(db: Database, store_id: str, since: datetime, until: datetime) -> list[PosTransaction]:
    with db.engine.connect() as conn:
        return list_pos_transactions(conn, store_id=store_id, since=since, until=until, limit=1_000_000)
