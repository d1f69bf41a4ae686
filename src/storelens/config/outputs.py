"""Where events go: local outputs (annotated video, JSONL, database), the database sink's
batching and spool, MQTT, NATS JetStream and signed webhooks, with their broker TLS.

The central ingest service (:mod:`storelens.central.config`) reuses the NATS section and the
aggregate bucket sizes from here, so edge and central accept the same values.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from storelens.config.base import Identifier, StrictModel, check_backoff


class OutputConfig(StrictModel):
    annotated_video: bool = True
    jsonl: bool = True
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in the output dir")


def _bucket_sizes(v: list[int]) -> list[int]:
    for b in v:
        if not 60 <= b <= 86_400 * 31:
            raise ValueError(f"bucket size {b} s out of range [60, 2678400]")
    return sorted(set(v))


AggregateBuckets = Annotated[list[int], Field(min_length=1, max_length=8), AfterValidator(_bucket_sizes)]
"""Time-bucket sizes (seconds) of the stored incremental aggregates: a minute to a month, sorted and
without repeats. The edge's ``storage`` and the central service store the same aggregates, so both
take this one type (a central that accepted other sizes could not merge an edge's buckets)."""


def default_aggregate_buckets() -> list[int]:
    """Five-minute and hourly buckets: what the API's time series and the reports read."""
    return [300, 3600]


class StorageConfig(StrictModel):
    """How the database sink batches, spools and retains data (the URL is ``output.database_url``)."""

    batch_size: int = Field(default=1000, ge=1, le=100_000, description="Events per transaction at most")
    flush_interval_s: float = Field(default=0.5, gt=0, le=60, description="Write a partial batch after this")
    spool_dir: str | None = Field(
        default=None, description="Where events wait while the database is down (default: next to the database)"
    )
    spool_max_events: int = Field(
        default=1_000_000, ge=1000, le=100_000_000, description="Spool bound; the oldest are dropped beyond it"
    )
    retry_initial_s: float = Field(default=0.5, gt=0, le=60, description="First retry delay after an error")
    retry_max_s: float = Field(default=30.0, gt=0, le=3600, description="Longest retry delay")
    aggregate_buckets_s: AggregateBuckets = Field(
        default_factory=default_aggregate_buckets,
        description="Time-bucket sizes (seconds) of the incremental aggregates",
    )

    @model_validator(mode="after")
    def _backoff(self) -> StorageConfig:
        check_backoff(self.retry_initial_s, self.retry_max_s, "retry_initial_s", "retry_max_s")
        return self


class TlsConfig(StrictModel):
    """TLS for a broker connection (files are PEM)."""

    enabled: bool = Field(default=False, description="Use TLS")
    ca_file: str | None = Field(default=None, description="CA bundle to verify the server (default: system)")
    cert_file: str | None = Field(default=None, description="Client certificate (mutual TLS)")
    key_file: str | None = Field(default=None, description="Client private key (mutual TLS)")
    insecure: bool = Field(default=False, description="Skip hostname verification (testing only)")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class MqttConfig(StrictModel):
    """Publish events to an MQTT broker (v5). Off unless ``enabled``."""

    enabled: bool = Field(default=False, description="Publish events over MQTT")
    host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = Field(default=None, max_length=128, description="Default: storelens-<store>-<random>")
    username: str | None = Field(default=None, max_length=256)
    password_env: str | None = Field(
        default=None, max_length=128, description="Environment variable holding the password"
    )
    tls: TlsConfig = Field(default_factory=TlsConfig)
    topic_prefix: str = Field(default="storelens", min_length=1, max_length=128, pattern=r"^[^#+]+$")
    qos: Literal[0, 1, 2] = Field(default=1, description="QoS of event messages")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    outbox_max: int = Field(
        default=100_000, ge=100, le=10_000_000, description="Unacknowledged messages kept; oldest dropped (counted)"
    )
    spool_dir: str | None = Field(default=None, description="Folder of the outbox journal (default: state dir)")
    types: list[str] = Field(default_factory=list, description="Event type prefixes to publish; empty = all")
    ha_discovery: bool = Field(default=False, description="Publish Home Assistant discovery for zone sensors")
    ha_discovery_prefix: str = Field(default="homeassistant", min_length=1, max_length=128)

    @model_validator(mode="after")
    def _backoff(self) -> MqttConfig:
        check_backoff(self.reconnect_min_s, self.reconnect_max_s, "reconnect_min_s", "reconnect_max_s")
        return self


class NatsConfig(StrictModel):
    """Publish events to NATS JetStream (edge → central transport). Off unless ``enabled``."""

    enabled: bool = Field(default=False, description="Publish events to JetStream")
    servers: list[str] = Field(default_factory=lambda: ["nats://127.0.0.1:4222"], min_length=1)
    stream: str = Field(default="STORELENS", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    subject_prefix: str = Field(default="storelens", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    user: str | None = Field(default=None, max_length=256)
    password_env: str | None = Field(default=None, max_length=128, description="Env var with the password")
    token_env: str | None = Field(default=None, max_length=128, description="Env var with an auth token")
    creds_file: str | None = Field(default=None, description="NATS credentials file (JWT + nkey)")
    tls: TlsConfig = Field(default_factory=TlsConfig)
    max_age_s: float = Field(default=7 * 86400, gt=0, le=365 * 86400, description="Stream retention")
    duplicate_window_s: float = Field(default=600, gt=0, le=86400, description="JetStream de-dup window")
    ack_timeout_s: float = Field(default=5.0, gt=0, le=120)
    outbox_max: int = Field(
        default=100_000, ge=100, le=10_000_000, description="Unacknowledged messages kept; oldest dropped (counted)"
    )
    spool_dir: str | None = Field(default=None, description="Folder of the outbox journal (default: state dir)")
    types: list[str] = Field(default_factory=list, description="Event type prefixes to publish; empty = all")


class WebhookSubscriptionConfig(StrictModel):
    """One receiver: where to POST, how to sign, which events."""

    id: Identifier = Field(description="Subscription id (stored with each delivery)")
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://", description="http(s) URL to POST to")
    secret: str | None = Field(default=None, min_length=16, max_length=512, description="HMAC secret (prefer env)")
    secret_env: str | None = Field(default=None, max_length=128, description="Env var holding the HMAC secret")
    types: list[str] = Field(
        default_factory=list, description="Event types; a value ending in '.' is a prefix; empty = all"
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookSubscriptionConfig:
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError("give exactly one of 'secret' or 'secret_env'")
        return self


class WebhooksConfig(StrictModel):
    """Signed webhook deliveries with a persisted outbox. Off unless subscriptions are given."""

    subscriptions: list[WebhookSubscriptionConfig] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1, le=100, description="Dead-letter after this many failures")
    backoff_initial_s: float = Field(default=2.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=600.0, gt=0, le=86400)
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per-request timeout")
    concurrency: int = Field(default=4, ge=1, le=64, description="Parallel deliveries")
    replay_window_s: int = Field(default=300, ge=10, le=86400, description="Receivers reject older timestamps")

    @model_validator(mode="after")
    def _check(self) -> WebhooksConfig:
        check_backoff(self.backoff_initial_s, self.backoff_max_s, "backoff_initial_s", "backoff_max_s")
        ids = [s.id for s in self.subscriptions]
        if len(ids) != len(set(ids)):
            raise ValueError("webhook subscription ids must be unique")
        return self


class OutputSections(StrictModel):
    """The store file's sections that say where events go, as fields :class:`~storelens.config.store.StoreConfig`
    inherits: a new sink adds its section class and its field here, in this one file (the "new sink"
    recipe of docs/ARCHITECTURE.md), and the store file gains the top-level key."""

    output: OutputConfig = Field(default_factory=OutputConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    nats: NatsConfig = Field(default_factory=NatsConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
