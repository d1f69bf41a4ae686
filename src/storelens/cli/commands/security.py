"""`storelens user|token|audit|keys ...`: accounts, API tokens, audit-chain checks, encryption keys.

Every command works on the store's database: ``--config STORE.yaml`` (its ``output.database_url``,
else ``./out/<store>/storelens.db``, as ``storelens serve`` uses) or ``--db URL``. There is no
default account and no default password: the first admin is made with
``storelens user add NAME --role admin``, which asks for the password twice (or reads one line
from stdin with ``--password-stdin``, for scripts).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from storelens.config import ConfigError, StoreConfig, load_config
from storelens.storage.database import Database

user_app = typer.Typer(help="Manage user accounts (roles: viewer, analyst, admin)", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens for integrations", no_args_is_help=True)
audit_app = typer.Typer(help="Inspect and verify the hash-chained audit log", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for stored imagery", no_args_is_help=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="Store YAML file (its database is used)")
DbOpt = typer.Option(None, "--db", help="Database URL or SQLite path (overrides --config)")
StoresOpt = typer.Option(None, "--stores", help="Only these stores (comma separated); default: all")
CamerasOpt = typer.Option(
    None, "--cameras", help="Only these cameras (comma separated; 'cam' or 'store/cam'); default: all"
)


def _restriction(value: str | None, kind: str) -> frozenset[str] | None:
    """``--stores``/``--cameras`` parsed (None: not given). A bad list is one error line and exit
    2, like every other bad option."""
    from storelens.security.access import AccessError, parse_restriction

    if value is None:
        return None
    try:
        return parse_restriction(value, "stores" if kind == "stores" else "cameras")
    except AccessError as exc:
        raise _error(exc) from None


def _restriction_change(value: str | None, kind: str) -> frozenset[str] | str | None:
    """For ``user set``: like :func:`_restriction`, and 'all' lifts the restriction."""
    if value is not None and value.strip().lower() == "all":
        return "all"
    return _restriction(value, kind)


def _shown(r: frozenset[str] | None) -> str:
    return "all" if r is None else ",".join(sorted(r))


def _load(config: Path | None) -> StoreConfig | None:
    if config is None:
        return None
    try:
        return load_config(config)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(code=2) from None


def database_url(config: Path | None, db: str | None) -> str:
    """The database the store uses (same default as ``storelens serve``)."""
    if db:
        return db
    cfg = _load(config)
    if cfg is None:
        typer.echo("give --config STORE.yaml or --db URL", err=True)
        raise typer.Exit(code=2)
    from storelens.sinks.factory import store_database_url

    return store_database_url(cfg)


@contextmanager
def _database(config: Path | None, db: str | None, *, create_audit_key: bool = True) -> Iterator[Database]:
    """The store's database, with the audit seal of its config (``security.audit_key_file``), so
    records appended here move the same sealed head as ``storelens serve`` does; closed on the way
    out, whatever the command did."""
    from storelens.security.audit import AuditKeyError, configure_audit_seal, use_audit_seal
    from storelens.storage import open_database

    try:
        database = open_database(database_url(config, db))
    except Exception as exc:
        typer.echo(f"cannot open database: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    try:
        cfg = _load(config)
        key_file = cfg.resolve_path(cfg.security.audit_key_file) if cfg and cfg.security.audit_key_file else None
        try:
            if create_audit_key:
                configure_audit_seal(database, key_file)
            else:
                use_audit_seal(database, key_file)
        except AuditKeyError as exc:
            raise _error(exc) from None
        yield database
    finally:
        database.close()


def _error(exc: Exception, code: int = 2) -> typer.Exit:
    """Print ``error: <exc>`` and hand back the exit to raise (``raise _error(exc) from None``): a
    bad option or a refused change is one line on stderr, never a traceback."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=code)


def _parse_expect(expect: str) -> tuple[int, str]:
    """``SEQ:HASH`` as ``audit verify`` prints the head; anything else is a usage error (exit 2)."""
    seq, sep, h = expect.partition(":")
    if not sep or not seq.isdigit() or len(h) != 64:
        typer.echo("--expect must be SEQ:HASH (as printed by a previous verify)", err=True)
        raise typer.Exit(code=2)
    return int(seq), h


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (containers)
        return "cli"


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            typer.echo("no password on stdin", err=True)
            raise typer.Exit(code=2)
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        typer.echo("no terminal to ask for the password: use --password-stdin", err=True)
        raise typer.Exit(code=2)
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _min_length(config: Path | None) -> int:
    cfg = _load(config)
    return cfg.security.password_min_length if cfg else 12


# ------------------------------------------------------------------------------------------ users


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="User name"),
    role: str = typer.Option(..., "--role", help="viewer, analyst or admin"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
    stores: str | None = StoresOpt,
    cameras: str | None = CamerasOpt,
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Create a user (asks for the password twice); --stores/--cameras limit what they see."""
    from storelens.security.audit import append_audit
    from storelens.security.users import UserError, create_user

    allowed_stores = _restriction(stores, "stores")
    allowed_cameras = _restriction(cameras, "cameras")
    with _database(config, db) as database:
        password = _read_password(password_stdin)
        try:
            user = create_user(
                database,
                name,
                password,
                role,
                min_length=_min_length(config),
                stores=allowed_stores,
                cameras=allowed_cameras,
            )
        except (UserError, ValueError) as exc:
            raise _error(exc) from None
        details = {"role": user.role.label, "stores": _shown(user.stores), "cameras": _shown(user.cameras)}
        append_audit(database, "user.create", _actor(), target=user.username, details=details)
        typer.echo(
            f"created {user.role.label} {user.username!r} "
            f"(stores {_shown(user.stores)}; cameras {_shown(user.cameras)})"
        )


@user_app.command("list")
def user_list(config: Path | None = ConfigOpt, db: str | None = DbOpt) -> None:
    """List users with role, state and last login."""
    from storelens.security.users import list_users

    with _database(config, db) as database, database.engine.connect() as conn:
        users = list_users(conn)
    if not users:
        typer.echo("no users (create the first admin with: storelens user add NAME --role admin)")
        return
    for u in users:
        state = "disabled" if u.disabled else ("locked" if u.locked_until else "active")
        last = u.last_login_at.isoformat() if u.last_login_at else "never"
        typer.echo(
            f"{u.username:24s} {u.role.label:8s} {state:8s} last login {last}  "
            f"stores {_shown(u.stores)} cameras {_shown(u.cameras)}"
        )


@user_app.command("update")
@user_app.command("set")
def user_set(
    name: str = typer.Argument(..., help="User name"),
    role: str | None = typer.Option(None, "--role", help="New role"),
    disable: bool = typer.Option(False, "--disable", help="Disable the account"),
    enable: bool = typer.Option(False, "--enable", help="Enable the account"),
    unlock: bool = typer.Option(False, "--unlock", help="Clear a lockout"),
    new_password: bool = typer.Option(False, "--password", help="Set a new password (asked twice)"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from stdin"),
    stores: str | None = typer.Option(None, "--stores", help="New store restriction (comma separated; 'all' lifts it)"),
    cameras: str | None = typer.Option(
        None, "--cameras", help="New camera restriction ('cam' or 'store/cam'; 'all' lifts it)"
    ),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Change a user's role, state, password or store/camera restriction (``update`` = ``set``)."""
    from storelens.security.audit import append_audit
    from storelens.security.users import UserError, update_user

    if disable and enable:
        typer.echo("give --disable or --enable, not both", err=True)
        raise typer.Exit(code=2)
    allowed_stores = _restriction_change(stores, "stores")
    allowed_cameras = _restriction_change(cameras, "cameras")
    with _database(config, db) as database:
        password = _read_password(password_stdin) if (new_password or password_stdin) else None
        try:
            user = update_user(
                database,
                name,
                role=role,
                disabled=True if disable else (False if enable else None),
                password=password,
                unlock=unlock,
                min_length=_min_length(config),
                stores=allowed_stores,
                cameras=allowed_cameras,
            )
        except (UserError, ValueError) as exc:
            raise _error(exc) from None
        details = {
            "role": role,
            "disabled": user.disabled,
            "unlock": unlock,
            "password_changed": password is not None,
            "stores": _shown(user.stores),
            "cameras": _shown(user.cameras),
        }
        append_audit(database, "user.update", _actor(), target=name, details=details)
        typer.echo(
            f"updated {user.username!r}: role {user.role.label}, {'disabled' if user.disabled else 'enabled'}, "
            f"stores {_shown(user.stores)}, cameras {_shown(user.cameras)}"
        )


@user_app.command("delete")
def user_delete(name: str = typer.Argument(...), config: Path | None = ConfigOpt, db: str | None = DbOpt) -> None:
    """Delete a user and their tokens and sessions."""
    from storelens.security.audit import append_audit
    from storelens.security.users import UserError, delete_user

    with _database(config, db) as database:
        try:
            found = delete_user(database, name)
        except UserError as exc:
            raise _error(exc) from None
        if not found:
            typer.echo(f"no user {name!r}", err=True)
            raise typer.Exit(code=1)
        append_audit(database, "user.delete", _actor(), target=name)
        typer.echo(f"deleted {name!r}")


# ----------------------------------------------------------------------------------------- tokens


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="What the token is for, e.g. 'bi-dashboard'"),
    user: str = typer.Option(..., "--user", help="Owner (the token can do at most what they can)"),
    role: str | None = typer.Option(None, "--role", help="Cap the token below its owner's role"),
    scopes: str | None = typer.Option(None, "--scopes", help="Space/comma separated: read write export admin"),
    days: float | None = typer.Option(None, "--days", help="Lifetime in days (default: security.token_default_days)"),
    stores: str | None = typer.Option(
        None, "--stores", help="Only these stores (within the owner's); default: the owner's"
    ),
    cameras: str | None = typer.Option(
        None, "--cameras", help="Only these cameras ('cam' or 'store/cam', within the owner's); default: the owner's"
    ),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Create an API token and print it once."""
    from storelens.security.audit import append_audit
    from storelens.security.tokens import TokenError, create_token
    from storelens.security.users import get_user

    cfg = _load(config)
    allowed_stores = _restriction(stores, "stores")
    allowed_cameras = _restriction(cameras, "cameras")
    with _database(config, db) as database:
        with database.engine.connect() as conn:
            owner = get_user(conn, user)
        if owner is None:
            typer.echo(f"no user {user!r}", err=True)
            raise typer.Exit(code=1)
        scope_list = None if scopes is None else scopes.replace(",", " ").split()
        try:
            plain, tok = create_token(
                database,
                owner.id,
                name,
                role=role,
                scopes=scope_list,
                expires_in_days=days,
                default_days=cfg.security.token_default_days if cfg else 90,
                max_days=cfg.security.token_max_days if cfg else 365,
                stores=allowed_stores,
                cameras=allowed_cameras,
            )
        except (TokenError, ValueError) as exc:
            raise _error(exc) from None
        details = {"name": name, "owner": user, "stores": _shown(tok.stores), "cameras": _shown(tok.cameras)}
        append_audit(database, "token.create", _actor(), target=tok.id, details=details)
        typer.echo(plain)
        typer.echo(
            f"token {tok.id} for {user} ({tok.role.label}; scopes {' '.join(sorted(tok.scopes))}; "
            f"stores {_shown(tok.stores)}; cameras {_shown(tok.cameras)}; "
            f"expires {tok.expires_at.isoformat()}): shown once, store it safely",
            err=True,
        )


@token_app.command("list")
def token_list(config: Path | None = ConfigOpt, db: str | None = DbOpt) -> None:
    """List tokens (never their secrets)."""
    from storelens.security.tokens import list_tokens

    with _database(config, db) as database, database.engine.connect() as conn:
        tokens = list_tokens(conn)
    for t in tokens:
        state = "revoked" if t.revoked_at else "active"
        scopes = ",".join(sorted(t.scopes))
        where = f"stores {_shown(t.stores)} cameras {_shown(t.cameras)}"
        typer.echo(f"{t.id}  user#{t.user_id:<4d} {t.role.label:8s} {scopes:24s} {state:8s} {t.name}  {where}")


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(...), config: Path | None = ConfigOpt, db: str | None = DbOpt) -> None:
    """Revoke a token."""
    from storelens.security.audit import append_audit
    from storelens.security.tokens import revoke_token

    with _database(config, db) as database:
        if not revoke_token(database, token_id):
            typer.echo(f"no live token {token_id!r}", err=True)
            raise typer.Exit(code=1)
        append_audit(database, "token.revoke", _actor(), target=token_id)
        typer.echo(f"revoked {token_id}")


# ------------------------------------------------------------------------------------------ audit


@audit_app.command("verify")
def audit_verify(
    expect: str | None = typer.Option(None, "--expect", help="SEQ:HASH noted earlier; must still be in the chain"),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Walk the hash chain; exit 1 and name the first bad record if it was tampered with."""
    from storelens.security.audit import verify_audit

    expected: tuple[int, str] | None = None
    if expect is not None:
        expected = _parse_expect(expect)
    from datetime import timedelta

    cfg = _load(config)
    days = cfg.privacy.retention.audit_days if cfg is not None else None
    with _database(config, db, create_audit_key=False) as database:  # a new key would make every anchor look forged
        v = verify_audit(database, expect=expected, retention=None if days is None else timedelta(days=days))
    if v.ok:
        typer.echo(f"audit log OK: {v.checked} record(s) verified; head {v.head_seq}:{v.head_hash}")
        if v.note:
            typer.echo(f"not checked: {v.note}", err=True)
        typer.echo("note the head above somewhere else; `--expect` checks it later", err=True)
        return
    typer.echo(f"audit log BROKEN at record {v.first_bad_seq}: {v.reason} ({v.checked} verified before it)")
    raise typer.Exit(code=1)


@audit_app.command("seal-anchor")
def audit_seal_anchor(
    expect: str = typer.Option(..., "--expect", help="SEQ:HASH noted before the upgrade; must be in the chain"),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Sign an anchor written by a storelens that did not seal anchors (verify: "anchor is not
    sealed"), after checking the chain reaches a head you noted earlier."""
    from storelens.security.audit import AuditKeyError, append_audit, seal_legacy_anchor

    anchor = _parse_expect(expect)
    with _database(config, db, create_audit_key=False) as database:
        try:
            done = seal_legacy_anchor(database, anchor)
        except (AuditKeyError, ValueError) as exc:
            raise _error(exc, code=1) from None
        if not done:
            typer.echo("no unsealed anchor: nothing to do")
            return
        append_audit(database, "audit.seal_anchor", _actor(), details={"expect": expect})
        typer.echo("anchor sealed")


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    action: str | None = typer.Option(None, "--action", help="Only this action, e.g. auth.login_failed"),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """The newest audit records."""
    from storelens.security.audit import list_audit

    with _database(config, db) as database, database.engine.connect() as conn:
        records = list_audit(conn, limit=limit, action=action)
    for r in records:
        typer.echo(f"{r.seq:6d} {r.ts.isoformat()} {r.actor:20s} {r.action:20s} {r.outcome:8s} {r.target or ''}")


# ------------------------------------------------------------------------------------------- keys


@keys_app.command("new")
def keys_new(
    key_file: Path = typer.Argument(..., help="Key file (created 0600, or the new key is put first)"),
    kid: str | None = typer.Option(None, "--id", help="Key id (default: kYYYYMMDD-xxxx)"),
) -> None:
    """Generate a key; in an existing file it becomes the primary (run `keys rotate` next)."""
    from storelens.security.crypto import KeyConfigError, add_key_to_file

    try:
        new_id = add_key_to_file(key_file, kid)
    except (KeyConfigError, OSError) as exc:
        raise _error(exc) from None
    typer.echo(f"added key {new_id} to {key_file} (primary)")


@keys_app.command("rotate")
def keys_rotate(config: Path = typer.Argument(..., help="Store YAML file"), db: str | None = DbOpt) -> None:
    """Re-encrypt stored imagery under the primary key (old keys can then be removed)."""
    from storelens.lifecycle.snapshots import snapshot_store_for
    from storelens.security.crypto import KeyConfigError

    cfg = _load(config)
    assert cfg is not None
    with _database(config, db) as database:
        try:
            store = snapshot_store_for(cfg, database)
        except KeyConfigError as exc:
            raise _error(exc) from None
        if store is None:
            typer.echo("no encryption key configured (security.key_file or $" + cfg.security.key_env + ")", err=True)
            raise typer.Exit(code=2)
        n = store.rotate()
        from storelens.security.audit import append_audit

        append_audit(database, "keys.rotate", _actor(), details={"files": n, "primary": store.keys.primary})
        typer.echo(f"re-encrypted {n} file(s) under key {store.keys.primary}")


@keys_app.command("scan")
def keys_scan(folder: Path = typer.Argument(..., help="Data folder to check")) -> None:
    """Exit 1 if any file under FOLDER is, or contains, an unencrypted image or video."""
    from storelens.security.crypto import find_unencrypted_images

    found = find_unencrypted_images(folder)
    for path, kind in found:
        typer.echo(f"{kind}: {path}")
    if found:
        raise typer.Exit(code=1)
    typer.echo(f"no unencrypted image or video under {folder}")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
