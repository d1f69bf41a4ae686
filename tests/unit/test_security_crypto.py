"""AES-256-GCM at rest: round trip, wrong key / tampering / moved file fail, rotation re-encrypts,
keys never appear in logs or reprs, and a data folder scan finds any plain image."""

from __future__ import annotations

import base64
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.core.redact import SecretFilter
from storelens.security.crypto import (
    EncryptedFileStore,
    InvalidTag,
    KeyConfigError,
    KeyRing,
    UnknownKeyError,
    add_key_to_file,
    decrypt_bytes,
    encrypt_bytes,
    find_unencrypted_images,
    new_key_line,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def ring(*kids: str) -> KeyRing:
    return KeyRing.parse("\n".join(new_key_line(k) for k in kids), "test")


def jpeg() -> bytes:
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf.tobytes())


def test_round_trip_and_wrong_key() -> None:
    keys = ring("k1")
    blob = encrypt_bytes(b"redacted frame", keys, b"ctx")
    assert decrypt_bytes(blob, keys, b"ctx") == b"redacted frame"
    assert b"redacted frame" not in blob
    assert encrypt_bytes(b"x", keys) != encrypt_bytes(b"x", keys)  # random nonce
    other = ring("k1")  # same id, different key bytes
    with pytest.raises(InvalidTag):
        decrypt_bytes(blob, other, b"ctx")
    with pytest.raises(InvalidTag):
        decrypt_bytes(blob, keys, b"other context")
    flipped = bytearray(blob)
    flipped[-20] ^= 1
    with pytest.raises(InvalidTag):
        decrypt_bytes(bytes(flipped), keys, b"ctx")
    with pytest.raises(UnknownKeyError, match="k1"):
        decrypt_bytes(blob, ring("k2"), b"ctx")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no keys"),
        ("k1", "not 'key-id:base64-key'"),
        ("k1:!!!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
    ],
)
def test_bad_key_material_is_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        KeyRing.parse(text, "$KEYS")


def test_keys_from_env_and_file(tmp_path: Path) -> None:
    env = {"STORELENS_DATA_KEYS": new_key_line("a") + ";" + new_key_line("b")}
    assert KeyRing.from_env("STORELENS_DATA_KEYS", env).ids == ["a", "b"]
    with pytest.raises(KeyConfigError, match="not set"):
        KeyRing.from_env("NOPE", {})
    path = tmp_path / "keys"
    first = add_key_to_file(path, "old")
    assert (path.stat().st_mode & 0o777) == 0o600
    second = add_key_to_file(path, "new")
    keys = KeyRing.from_file(path)
    assert (first, second) == ("old", "new") and keys.primary == "new" and keys.ids == ["new", "old"]


def test_secrets_never_logged_or_printed(caplog: pytest.LogCaptureFixture) -> None:
    line = new_key_line("k9")
    secret = line.split(":", 1)[1]
    keys = KeyRing.parse(line, "test")
    assert secret not in repr(keys) and secret not in str(keys)
    log = logging.getLogger("storelens.test.secret")
    handler = logging.Handler()
    records: list[str] = []
    handler.emit = lambda r: records.append(r.getMessage())  # type: ignore[method-assign]
    handler.addFilter(SecretFilter())
    log.addHandler(handler)
    try:
        log.warning("oops, key is %s", secret)
    finally:
        log.removeHandler(handler)
    assert records == ["oops, key is ***"]
    with pytest.raises(KeyConfigError) as exc:
        KeyRing.parse("k1:" + secret[:-4] + "!!!!", "test")
    assert secret[:-4] not in str(exc.value)


def test_file_store_round_trip_delete_and_moved_file(tmp_path: Path) -> None:
    store = EncryptedFileStore(tmp_path / "snaps", ring("k1"))
    data = jpeg()
    p1 = store.put("cam1", T0, data)
    p2 = store.put("cam2", T0 + timedelta(hours=1), data, kind="png")
    assert store.get(p1) == data and (p1.stat().st_mode & 0o777) == 0o600
    assert [(e.camera_id, e.ts) for e in store.entries()] == [("cam1", T0), ("cam2", T0 + timedelta(hours=1))]
    # a file moved to impersonate another camera's fails authentication
    moved = tmp_path / "snaps" / "cam2" / p2.parent.name / p1.name
    os.replace(p1, moved)
    with pytest.raises(InvalidTag):
        store.get(moved)
    assert store.delete(camera_id="cam2", start=T0, end=T0 + timedelta(hours=2)) == 2
    assert list(store.entries()) == []


def test_rotation_reencrypts_under_the_new_primary(tmp_path: Path) -> None:
    keyfile = tmp_path / "keys"
    add_key_to_file(keyfile, "old")
    store = EncryptedFileStore(tmp_path / "snaps", KeyRing.from_file(keyfile))
    data = jpeg()
    paths = [store.put("cam1", T0 + timedelta(minutes=i), data) for i in range(3)]
    add_key_to_file(keyfile, "new")
    rotated = EncryptedFileStore(tmp_path / "snaps", KeyRing.from_file(keyfile))
    assert rotated.rotate() == 3 and rotated.rotate() == 0
    only_new = EncryptedFileStore(tmp_path / "snaps", KeyRing([(k, b) for k, b in _raw(keyfile) if k == "new"]))
    assert all(only_new.get(p) == data for p in paths)


def _raw(path: Path) -> list[tuple[str, bytes]]:
    out = []
    for line in path.read_text().splitlines():
        kid, _, b64 = line.partition(":")
        out.append((kid, base64.b64decode(b64)))
    return out


def test_scan_finds_plain_images_and_passes_an_encrypted_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = EncryptedFileStore(data_dir / "snapshots", ring("k1"))
    for i in range(5):
        store.put("cam1", T0 + timedelta(minutes=i), jpeg())
    (data_dir / "storelens.db").write_bytes(os.urandom(1 << 16))
    assert find_unencrypted_images(data_dir) == []
    (data_dir / "leak.bin").write_bytes(jpeg())
    blob_with_png = os.urandom(3000) + cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes() + os.urandom(10)
    (data_dir / "db-with-blob.sqlite").write_bytes(blob_with_png)
    mp4 = b"\x00\x00\x00\x18ftypisom" + os.urandom(100)
    (data_dir / "clip.dat").write_bytes(mp4)
    found = {p.name: kind for p, kind in find_unencrypted_images(data_dir)}
    assert found == {"leak.bin": "JPEG", "db-with-blob.sqlite": "PNG", "clip.dat": "MP4/MOV"}
