"""Encryption at rest for stored imagery (snapshots, clips), which is already redacted.

AES-256-GCM (authenticated: a flipped bit or a wrong key fails with ``InvalidTag``, never yields
garbage). Keys come from a key file (``security.key_file``) or, failing that, an environment
variable (``security.key_env``), one ``key-id:base64(32 bytes)`` per line (';' between keys in the
variable). The first key encrypts; all of them decrypt, which is how rotation works: put a new key
first, run :meth:`EncryptedFileStore.rotate` (``storelens keys rotate``), then drop the old key.

Every blob starts with a small header (magic, key id, 96-bit random nonce) that is also bound
into the tag as associated data, together with the file's name inside the store, so a file moved
or renamed to impersonate another fails to decrypt.

Key bytes never reach a log: :class:`KeyRing`'s repr shows key ids only, and the values are
registered with :class:`SecretFilter`, which masks them in any log record should one slip through.
:func:`find_unencrypted_images` is the check that nothing under a data directory is a plain
image or video.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storelens.core.redact import SecretFilter

MAGIC = b"SLENC\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SUFFIX = ".slenc"

__all__ = [
    "EncryptedFileStore",
    "InvalidTag",
    "KeyConfigError",
    "KeyRing",
    "UnknownKeyError",
    "decrypt_bytes",
    "encrypt_bytes",
    "find_unencrypted_images",
]


class KeyConfigError(ValueError):
    """Keys are missing or malformed (the message names the source, never the key)."""


class UnknownKeyError(KeyConfigError):
    """A blob was encrypted with a key id the key ring does not have."""


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    aead: AESGCM


class KeyRing:
    """Key ids → AES-256-GCM keys; ``primary`` encrypts, every key decrypts."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        items = list(keys)
        if not items:
            raise KeyConfigError("no encryption key given")
        self._keys: dict[str, _Key] = {}
        for kid, raw in items:
            if not _KID_RE.fullmatch(kid):
                raise KeyConfigError(f"bad key id {kid!r}: 1-32 letters, digits, '_' or '-'")
            if len(raw) != KEY_BYTES:
                raise KeyConfigError(f"key {kid!r} must be {KEY_BYTES} bytes (AES-256), got {len(raw)}")
            if kid in self._keys:
                raise KeyConfigError(f"duplicate key id {kid!r}")
            self._keys[kid] = _Key(kid, AESGCM(raw))
            SecretFilter.register(base64.b64encode(raw).decode())
        self.primary = items[0][0]

    def __repr__(self) -> str:
        return f"KeyRing(primary={self.primary!r}, ids={list(self._keys)!r})"

    __str__ = __repr__

    @property
    def ids(self) -> list[str]:
        return list(self._keys)

    def get(self, kid: str) -> AESGCM:
        try:
            return self._keys[kid].aead
        except KeyError:
            raise UnknownKeyError(f"data was encrypted with key {kid!r}, which is not configured") from None

    @classmethod
    def parse(cls, text: str, source: str) -> KeyRing:
        """Keys from ``kid:base64`` entries separated by newlines or ';' ('#' starts a comment)."""
        keys: list[tuple[str, bytes]] = []
        for n, raw_line in enumerate(re.split(r"[;\n]", text), start=1):
            line = raw_line.split("#", 1)[0].strip()
            if not line:
                continue
            kid, sep, b64 = line.partition(":")
            if not sep:
                raise KeyConfigError(f"{source}: entry {n} is not 'key-id:base64-key'")
            try:
                raw = base64.b64decode(b64.strip(), validate=True)
            except ValueError:
                raise KeyConfigError(f"{source}: key {kid.strip()!r} is not valid base64") from None
            keys.append((kid.strip(), raw))
        if not keys:
            raise KeyConfigError(f"{source}: no keys found")
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="ascii")
        except OSError as exc:
            raise KeyConfigError(f"cannot read key file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise KeyConfigError(f"key file {path} is not ASCII text") from None
        if mode & 0o077:
            logging.getLogger(__name__).warning("key file %s is readable by group/others; chmod 600 it", path)
        return cls.parse(text, str(path))

    @classmethod
    def from_env(cls, name: str, environ: Mapping[str, str] | None = None) -> KeyRing:
        env = os.environ if environ is None else environ
        value = env.get(name)
        if not value:
            raise KeyConfigError(f"environment variable {name} is not set")
        return cls.parse(value, f"${name}")

    @classmethod
    def load(cls, key_file: Path | None, key_env: str, environ: Mapping[str, str] | None = None) -> KeyRing:
        """The key file when one is configured, else the environment variable."""
        if key_file is not None:
            return cls.from_file(key_file)
        return cls.from_env(key_env, environ)


def new_key_line(kid: str | None = None) -> str:
    """A fresh ``kid:base64`` entry (kid defaults to the current UTC date and 4 random hex digits)."""
    kid = kid or datetime.now(UTC).strftime("k%Y%m%d") + "-" + secrets.token_hex(2)
    if not _KID_RE.fullmatch(kid):
        raise KeyConfigError(f"bad key id {kid!r}")
    return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def add_key_to_file(path: Path, kid: str | None = None) -> str:
    """Put a new key first in ``path`` (created 0600 if missing); returns the new key's id."""
    line = new_key_line(kid)
    old = path.read_text(encoding="ascii") if path.exists() else ""
    if old:
        KeyRing.parse(old + "\n" + line, str(path))  # refuse a duplicate id before writing
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keys-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(line + "\n" + old)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return line.split(":", 1)[0]


def _header(kid: str) -> bytes:
    k = kid.encode("ascii")
    return MAGIC + bytes([len(k)]) + k


def encrypt_bytes(plaintext: bytes, keys: KeyRing, aad: bytes = b"") -> bytes:
    header = _header(keys.primary)
    nonce = secrets.token_bytes(NONCE_BYTES)
    return header + nonce + keys.get(keys.primary).encrypt(nonce, plaintext, header + aad)


def blob_key_id(blob: bytes) -> str:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
        raise ValueError("not a storelens encrypted blob")
    n = blob[len(MAGIC)]
    return blob[len(MAGIC) + 1 : len(MAGIC) + 1 + n].decode("ascii")


def decrypt_bytes(blob: bytes, keys: KeyRing, aad: bytes = b"") -> bytes:
    """Plaintext, or ``InvalidTag`` (wrong key, tampered data or wrong ``aad``)."""
    kid = blob_key_id(blob)
    hlen = len(MAGIC) + 1 + len(kid.encode("ascii"))
    header, nonce, body = blob[:hlen], blob[hlen : hlen + NONCE_BYTES], blob[hlen + NONCE_BYTES :]
    if len(nonce) != NONCE_BYTES or len(body) < 16:
        raise InvalidTag()
    return keys.get(kid).decrypt(nonce, body, header + aad)


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: Path
    camera_id: str
    ts: datetime


_NAME_RE = re.compile(r"^(\d{13})-[0-9a-f]{8}\.([a-z0-9]{1,8})" + re.escape(SUFFIX) + "$")
_CAM_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class EncryptedFileStore:
    """Encrypted files under ``root/<camera>/<YYYY-MM-DD>/<epoch_ms>-<random>.<kind>.slenc``.

    The name keeps camera and time in the clear (no personal data) so retention and deletion by
    camera/time window need no key; the content is only ever written encrypted (atomically, 0600).
    """

    def __init__(self, root: Path, keys: KeyRing) -> None:
        self.root = Path(root)
        self.keys = keys

    def _aad(self, path: Path) -> bytes:
        return b"storelens-file:" + path.relative_to(self.root).as_posix().encode()

    def put(self, camera_id: str, ts: datetime, data: bytes, kind: str = "jpg") -> Path:
        if not _CAM_RE.fullmatch(camera_id):
            raise ValueError(f"bad camera id {camera_id!r}")
        if not re.fullmatch(r"[a-z0-9]{1,8}", kind):
            raise ValueError(f"bad file kind {kind!r}")
        ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
        folder = self.root / camera_id / ts.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{int(ts.timestamp() * 1000):013d}-{secrets.token_hex(4)}.{kind}{SUFFIX}"
        self._write(path, encrypt_bytes(data, self.keys, self._aad(path)))
        return path

    @staticmethod
    def _write(path: Path, blob: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, path: Path) -> bytes:
        return decrypt_bytes(Path(path).read_bytes(), self.keys, self._aad(Path(path)))

    def entries(self) -> Iterator[StoredFile]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob(f"*/*/*{SUFFIX}")):
            m = _NAME_RE.match(path.name)
            if m is None:
                continue
            yield StoredFile(path, path.parent.parent.name, datetime.fromtimestamp(int(m.group(1)) / 1000, UTC))

    def delete(
        self, *, camera_id: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """Delete files of ``camera_id`` (any camera if None) with ``start <= ts < end``."""
        n = 0
        for e in self.entries():
            if camera_id is not None and e.camera_id != camera_id:
                continue
            if (start is not None and e.ts < start) or (end is not None and e.ts >= end):
                continue
            e.path.unlink(missing_ok=True)
            n += 1
        self._prune_empty_dirs()
        return n

    def purge_older_than(self, cutoff: datetime) -> int:
        return self.delete(end=cutoff)

    def rotate(self) -> int:
        """Re-encrypt every file not under the primary key; returns how many were rewritten."""
        n = 0
        for e in self.entries():
            blob = e.path.read_bytes()
            if blob_key_id(blob) == self.keys.primary:
                continue
            plain = decrypt_bytes(blob, self.keys, self._aad(e.path))
            self._write(e.path, encrypt_bytes(plain, self.keys, self._aad(e.path)))
            n += 1
        return n

    def _prune_empty_dirs(self) -> None:
        if not self.root.is_dir():
            return
        for d in sorted((p for p in self.root.glob("*/*") if p.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()


# Signatures of plain images and videos. Checked at the start of every file, and (the long,
# unambiguous ones) anywhere inside it, so an image stored in a database blob is found too.
_HEAD_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (4, b"ftyp", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
)
_EMBEDDED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
    (b"\xff\xd8\xff\xe1", "JPEG/Exif"),
    (b"ftypisom", "MP4"),
    (b"ftypmp42", "MP4"),
    (b"ftypavc1", "MP4"),
    (b"GIF89a", "GIF"),
)


def image_kind(data: bytes) -> str | None:
    """The kind of plain image/video ``data`` is or contains, or None."""
    for offset, sig, kind in _HEAD_SIGNATURES:
        if data[offset : offset + len(sig)] == sig:
            return kind
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"AVI "):
        return "WebP/AVI"
    for sig, kind in _EMBEDDED_SIGNATURES:
        if sig in data:
            return kind
    return None


def find_unencrypted_images(root: Path, *, chunk: int = 1 << 20) -> list[tuple[Path, str]]:
    """Every file under ``root`` that is, or contains, a plain image or video (path, kind)."""
    found: list[tuple[Path, str]] = []
    overlap = max(len(s) for s, _ in _EMBEDDED_SIGNATURES)
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as fh:
            head = fh.read(chunk)
            kind = image_kind(head)
            tail = head[-overlap:]
            while kind is None:
                block = fh.read(chunk)
                if not block:
                    break
                window = tail + block
                kind = next((k for s, k in _EMBEDDED_SIGNATURES if s in window), None)
                tail = window[-overlap:]
        if kind is not None:
            found.append((path, kind))
    return found
