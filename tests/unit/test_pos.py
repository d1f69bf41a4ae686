"""POS: the CSV schema and its errors, stable ids, conversion per store-local hour/day (DST
included), and the join of sales to checkout stays. Pure functions, plus one SQLite import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storelens.kpis.pos import (
    CheckoutStay,
    PosCsvError,
    bucket_starts,
    conversion_by_bucket,
    derive_transaction_id,
    import_pos_csv,
    join_transactions_to_stays,
    make_transaction,
    parse_pos_csv,
    store_timezone,
)
from storelens.storage import list_pos_transactions, open_database
from storelens.storage.records import PosTransaction

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def txn(sec: float, value: float = 10.0, tid: str | None = None, register: str = "r1") -> PosTransaction:
    return make_transaction(
        "s1", timestamp=T0 + timedelta(seconds=sec), register=register, basket_value=value, transaction_id=tid
    )


def test_a_valid_file_parses_with_optional_columns_in_any_order() -> None:
    text = (
        "\ufeffBasket_Value,register,timestamp,items,currency\n"
        "12.5,till-1,2025-03-01T10:00:00+01:00,3,EUR\n"
        "\n"
        "0,till-2,2025-03-01T09:30:00Z,,\n"
    )
    rows = parse_pos_csv(text, "s1")
    assert [(r.register_id, r.ts, r.basket_value, r.items, r.currency) for r in rows] == [
        ("till-1", datetime(2025, 3, 1, 9, 0, tzinfo=UTC), 12.5, 3, "EUR"),
        ("till-2", datetime(2025, 3, 1, 9, 30, tzinfo=UTC), 0.0, None, None),
    ]
    assert all(r.id.startswith("pos-") and r.source == "csv" for r in rows)


def test_naive_times_are_store_local() -> None:
    (row,) = parse_pos_csv(
        "timestamp,register,basket_value\n2025-07-01T12:00:00,r1,5\n", "s1", timezone="Europe/Berlin"
    )
    assert row.ts == datetime(2025, 7, 1, 10, 0, tzinfo=UTC)  # CEST = UTC+2


BAD_FILES = [
    ("", ["line 1: empty file"]),
    ("timestamp,register\n", ["line 1: missing column(s) basket_value"]),
    ("timestamp,register,basket_value,price\n", ["line 1: unknown column(s) price"]),
    ("timestamp,register,basket_value,register\n", ["line 1: duplicate column(s) register"]),
    ("timestamp,register,basket_value\n2025-03-01T10:00:00Z,r1\n", ["line 2: 2 field(s), the header has 3"]),
    ("timestamp,register,basket_value\nsoon,r1,5\n", ["line 2: timestamp 'soon' is not ISO 8601"]),
    ("timestamp,register,basket_value\n2025-03-01T10:00:00Z,r1,5,00\n", ["line 2: 4 field(s)"]),
    (
        "timestamp,register,basket_value\n2025-03-01T10:00:00Z,r1,5;00\n",
        ["line 2: basket_value '5;00' is not a number"],
    ),
    ("timestamp,register,basket_value\n2025-03-01T10:00:00Z,r1,-3\n", ["line 2: basket_value must be a number in"]),
    ("timestamp,register,basket_value\n2025-03-01T10:00:00Z,r1,nan\n", ["line 2: basket_value must be a number in"]),
    ("timestamp,register,basket_value\n2025-03-01T10:00:00Z,till 1,3\n", ["line 2: register 'till 1' must be"]),
    ("timestamp,register,basket_value\n2025-03-01T10:00:00Z,,3\n", ["line 2: timestamp, register and basket_value"]),
    ("timestamp,register,basket_value,currency\n2025-03-01T10:00:00Z,r1,3,eur\n", ["line 2: currency must be"]),
    ("timestamp,register,basket_value,items\n2025-03-01T10:00:00Z,r1,3,2.5\n", ["line 2: items '2.5' is not"]),
    (
        "timestamp,register,basket_value,categories\n2025-03-01T10:00:00Z,r1,3," + "x" * 65 + "\n",
        ["line 2: category 'xxxx"],
    ),
    (
        "timestamp,register,basket_value,transaction_id\n2025-03-01T10:00:00Z,r1,3,t1\n2025-03-01T11:00:00Z,r2,4,t1\n",
        ["line 3: transaction 't1' repeats line 2"],
    ),
    (
        "timestamp,register,basket_value\nx,r1,1\n2025-03-01T10:00:00Z,r1,1\ny,r1,1\n",
        ["line 2: timestamp 'x'", "line 4: timestamp 'y'"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_every_bad_line_is_reported_with_its_line_number(text: str, expected: list[str]) -> None:
    with pytest.raises(PosCsvError) as err:
        parse_pos_csv(text, "s1")
    assert len(err.value.issues) == len(expected), err.value.issues
    for issue, prefix in zip(err.value.issues, expected, strict=True):
        assert issue.startswith(prefix), (issue, prefix)
    assert "nothing imported" in str(err.value)


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        store_timezone("Mars/Olympus")


def test_derived_ids_are_stable_and_distinguish_sales() -> None:
    a = derive_transaction_id("s1", "r1", T0, 12.5)
    assert a == derive_transaction_id("s1", "r1", T0.astimezone(store_timezone("Asia/Tokyo")), 12.5)
    assert len({a, derive_transaction_id("s1", "r2", T0, 12.5), derive_transaction_id("s1", "r1", T0, 12.51)}) == 3


def test_categories_column_is_split_trimmed_deduplicated_and_stored(tmp_path: Path) -> None:
    text = (
        "timestamp,register,basket_value,categories\n"
        "2025-03-01T10:00:00Z,r1,5, Coffee ;Tea;;Coffee\n"
        "2025-03-01T10:05:00Z,r1,7,\n"
    )
    rows = parse_pos_csv(text, "s1")
    assert [r.categories for r in rows] == [("Coffee", "Tea"), None]
    with pytest.raises(ValueError, match="not one string"):
        make_transaction("s1", timestamp=T0, register="r1", basket_value=1, categories="Coffee")  # type: ignore[arg-type]
    with open_database(tmp_path / "pos.db") as db:
        import_pos_csv(db, text, "s1")
        with db.begin() as conn:
            assert [r.categories for r in list_pos_transactions(conn, store_id="s1")] == [("Coffee", "Tea"), None]


def test_import_is_idempotent_and_all_or_nothing(tmp_path: Path) -> None:
    with open_database(tmp_path / "pos.db") as db:
        good = "timestamp,register,basket_value\n2025-03-01T10:00:00Z,r1,5\n2025-03-01T10:05:00Z,r1,7\n"
        assert import_pos_csv(db, good, "s1").inserted == 2
        again = import_pos_csv(db, good, "s1")
        assert (again.rows, again.inserted, again.duplicates) == (2, 0, 2)
        with pytest.raises(PosCsvError):
            import_pos_csv(db, good.replace("10:05", "later"), "s1")
        with db.begin() as conn:
            assert len(list_pos_transactions(conn, store_id="s1")) == 2


def test_hour_buckets_across_a_dst_change_are_never_missing_or_doubled() -> None:
    tz = store_timezone("Europe/Berlin")
    # 2025-03-30: clocks go 02:00 -> 03:00 local; 00:00-06:00 local is 5 real hours
    since = datetime(2025, 3, 30, 0, 0, tzinfo=tz).astimezone(UTC)
    until = datetime(2025, 3, 30, 6, 0, tzinfo=tz).astimezone(UTC)
    starts = bucket_starts(since, until, tz, "hour")
    assert [s.hour for s in starts] == [0, 1, 3, 4, 5]
    days = bucket_starts(since, datetime(2025, 4, 1, tzinfo=tz), tz, "day")
    assert [(d.day, d.utcoffset()) for d in days] == [(30, timedelta(hours=1)), (31, timedelta(hours=2))]


def test_conversion_rate_and_average_basket_per_hour() -> None:
    txns = [txn(60, 10), txn(120, 20), txn(3700, 30), txn(-10, 99)]  # the last is before the range
    visits = [T0 + timedelta(seconds=s) for s in (5, 50, 500, 1000, 3601)] + [T0 + timedelta(hours=5)]
    rows = conversion_by_bucket(txns, visits, since=T0, until=T0 + timedelta(hours=3), granularity="hour")
    assert [(r.transactions, r.visits, r.revenue, r.conversion_rate, r.average_basket) for r in rows] == [
        (2, 4, 30.0, 0.5, 15.0),
        (1, 1, 30.0, 1.0, 30.0),
        (0, 0, 0.0, None, None),
    ]


def test_conversion_per_store_local_day() -> None:
    # 23:30 UTC on 1 March is 00:30 on 2 March in Berlin
    late = T0.replace(hour=23, minute=30)
    rows = conversion_by_bucket(
        [make_transaction("s1", timestamp=late, register="r1", basket_value=4)],
        [late - timedelta(minutes=10)],
        since=datetime(2025, 3, 1, tzinfo=UTC),
        until=datetime(2025, 3, 3, tzinfo=UTC),
        granularity="day",
        timezone="Europe/Berlin",
    )
    assert [(r.start.isoformat(), r.transactions, r.visits) for r in rows] == [
        ("2025-03-01T00:00:00+01:00", 0, 0),
        ("2025-03-02T00:00:00+01:00", 1, 1),
        ("2025-03-03T00:00:00+01:00", 0, 0),
    ]


def stay(subject: str, start: float, end: float, kind: str = "checkout", zone: str = "till") -> CheckoutStay:
    return CheckoutStay(subject, zone, kind, T0 + timedelta(seconds=start), T0 + timedelta(seconds=end))


def test_sales_join_the_nearest_unused_checkout_stay() -> None:
    stays = [
        stay("a", 0, 60),
        stay("b", 50, 120),
        stay("c", 500, 540),
        stay("a", -90, -5, kind="queue", zone="q"),
    ]
    sales = [txn(55, tid="t1"), txn(118, tid="t2"), txn(600, tid="t3"), txn(2000, tid="t4")]
    j = join_transactions_to_stays(sales, stays, window_s=120)
    got = {m.transaction_id: (m.subject, m.queue_wait_s) for m in j.matches}
    # t1 at 55 s: a (ends at 60) and b (in progress) both fit; a's end is nearer
    assert got == {"t1": ("a", 90.0), "t2": ("b", None), "t3": ("c", None), "t4": (None, None)}
    assert (j.matched, j.match_rate, j.checkout_stays, j.unmatched_stays) == (3, 0.75, 3, 0)
    assert j.mean_queue_wait_s == 90.0
    # a sale too long after the stay ended does not match; each stay is claimed once
    tight = join_transactions_to_stays([txn(700, tid="t3"), txn(530, tid="t5")], stays, window_s=60)
    assert {m.transaction_id: m.subject for m in tight.matches} == {"t5": "c", "t3": None}
    with pytest.raises(ValueError, match="window_s"):
        join_transactions_to_stays([], [], window_s=-1)


def test_empty_inputs() -> None:
    assert join_transactions_to_stays([], []).match_rate is None
    assert conversion_by_bucket([], [], since=T0, until=T0 + timedelta(minutes=1))[0].conversion_rate is None
