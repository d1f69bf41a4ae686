"""Where the encrypted snapshots (the redacted stills an alert may keep) live, and with which key:
the one place retention, deletion, the CLI and the service all open that store from."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from storelens.config.store import StoreConfig
from storelens.security.crypto import EncryptedFileStore, KeyConfigError, KeyRing
from storelens.storage.database import Database

log = logging.getLogger(__name__)


def snapshot_store_for(
    store: StoreConfig, db: Database, environ: dict[str, str] | None = None
) -> EncryptedFileStore | None:
    """The encrypted snapshot store, or None when no key is configured (then no imagery is kept)."""
    sec = store.security
    key_file = store.resolve_path(sec.key_file) if sec.key_file else None
    try:
        keys = KeyRing.load(key_file, sec.key_env, environ)
    except KeyConfigError as exc:
        if key_file is not None:
            raise  # a configured key file that cannot be used is an error, not "no snapshots"
        log.info("no encryption key (%s): snapshots are not stored", exc)
        return None
    if store.privacy.snapshot_dir:
        root = store.resolve_path(store.privacy.snapshot_dir)
    else:
        url = make_url(db.url)
        base = Path(url.database).parent if url.get_backend_name() == "sqlite" and url.database else Path.cwd()
        root = base / "snapshots"
    return EncryptedFileStore(root, keys)
