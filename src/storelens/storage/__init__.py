"""Storage: SQLAlchemy 2 models, Alembic migrations, repositories and retention.

``open_database(url)`` returns a migrated :class:`Database`; the repository functions take a
Connection or Session from it (``with db.begin() as conn: query_events(conn, ...)``).
"""

from storelens.storage.aggregates import Aggregate, bucket_start, compute_deltas, query_aggregates
from storelens.storage.database import Database, StorageError, normalise_url, open_database, sqlite_url
from storelens.storage.events import CursorError, EventPage, count_events, get_event, insert_events, query_events
from storelens.storage.ingest import IngestResult, store_events
from storelens.storage.migrate import MigrationError, head_revision
from storelens.storage.records import (
    Alert,
    PosTransaction,
    Promotion,
    acknowledge_alert,
    get_alert,
    insert_pos_transactions,
    list_alerts,
    list_pos_transactions,
    list_promotions,
)
from storelens.storage.retention import RetentionPolicy, purge_older_than
from storelens.storage.visits import Visit, get_visit, list_visits, upsert_visit, upsert_visits

__all__ = [
    "Aggregate",
    "Alert",
    "CursorError",
    "Database",
    "EventPage",
    "IngestResult",
    "MigrationError",
    "PosTransaction",
    "Promotion",
    "RetentionPolicy",
    "StorageError",
    "Visit",
    "acknowledge_alert",
    "bucket_start",
    "compute_deltas",
    "count_events",
    "get_alert",
    "get_event",
    "get_visit",
    "head_revision",
    "insert_events",
    "insert_pos_transactions",
    "list_alerts",
    "list_pos_transactions",
    "list_promotions",
    "list_visits",
    "normalise_url",
    "open_database",
    "purge_older_than",
    "query_aggregates",
    "query_events",
    "sqlite_url",
    "store_events",
    "upsert_visit",
    "upsert_visits",
]
