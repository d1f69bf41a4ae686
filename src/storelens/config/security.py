"""The API server's security settings (SECURITY.md): TLS, sessions, lockout, tokens, the keys
that encrypt stored imagery and seal the audit log, and HTTP hardening.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from storelens.config.base import StrictModel


class ApiTlsConfig(StrictModel):
    """TLS for the API server (PEM files). Off unless both files are given."""

    cert_file: str | None = Field(default=None, description="Server certificate chain (PEM)")
    key_file: str | None = Field(default=None, description="Server private key (PEM)")
    min_version: Literal["TLSv1.2", "TLSv1.3"] = Field(default="TLSv1.2", description="Oldest TLS version accepted")

    @model_validator(mode="after")
    def _pair(self) -> ApiTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class SecurityConfig(StrictModel):
    """Authentication, sessions, lockout, encryption keys and HTTP hardening (SECURITY.md)."""

    tls: ApiTlsConfig = Field(default_factory=ApiTlsConfig)
    session_lifetime_h: float = Field(default=12, gt=0, le=24 * 30, description="Dashboard session lifetime (h)")
    session_idle_min: float = Field(default=60, gt=0, le=24 * 60, description="Session ends after this idle time")
    cookie_secure: bool = Field(
        default=True, description="Mark cookies Secure (browsers still send them to http://localhost)"
    )
    login_max_failures: int = Field(default=5, ge=1, le=100, description="Failed logins in a row before lockout")
    lockout_min: float = Field(default=15, gt=0, le=24 * 60, description="Minutes an account stays locked")
    login_rate_per_min: int = Field(default=10, ge=1, le=10_000, description="Login attempts per client per minute")
    password_min_length: int = Field(default=12, ge=8, le=256, description="Shortest password accepted")
    token_default_days: float = Field(default=90, gt=0, le=3650, description="API token lifetime unless given")
    token_max_days: float = Field(default=365, gt=0, le=3650, description="Longest API token lifetime")
    key_file: str | None = Field(
        default=None, description="Encryption key file for stored imagery (lines 'key-id:base64-32-bytes')"
    )
    key_env: str = Field(
        default="STORELENS_DATA_KEYS",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable with the keys (same format, ';'-separated), used if no key_file",
    )
    audit_key_file: str | None = Field(
        default=None,
        description=(
            "HMAC key sealing the audit log's head and anchor, kept outside the database (created 0600 "
            "if missing; $STORELENS_AUDIT_KEY overrides it). Default: <database>.audit-key next to a "
            "SQLite database; PostgreSQL needs this or the variable"
        ),
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, le=1024**3, description="Larger request bodies get 413"
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed cross-site; empty = CORS off")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Proxy IPs whose X-Forwarded-For is believed (for rate limiting)"
    )

    @model_validator(mode="after")
    def _token_days(self) -> SecurityConfig:
        if self.token_default_days > self.token_max_days:
            raise ValueError("token_default_days must be <= token_max_days")
        return self
