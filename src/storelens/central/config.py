"""Settings of the central ingest service (``storelens central``): flags, or a small YAML file.

The YAML form exists for what flags handle badly (NATS TLS, credentials files, several servers);
it is validated by the same loader as store configs, so errors name file, line and field::

    nats:
      servers: ["tls://nats.central.local:4222"]
      creds_file: /etc/storelens/central.creds
      tls: {enabled: true, ca_file: /etc/storelens/ca.pem}
    database_url: postgresql://storelens@db.central.local/storelens
    batch: 500
    metrics_port: 9464
"""

from __future__ import annotations

from pydantic import Field, model_validator

from storelens.config.base import StrictModel, check_backoff
from storelens.config.outputs import AggregateBuckets, NatsConfig, default_aggregate_buckets


class CentralConfig(StrictModel):
    """Where to consume from, where to store, and how hard to push."""

    nats: NatsConfig = Field(default_factory=NatsConfig, description="Servers, stream, prefix, TLS, credentials")
    database_url: str | None = Field(default=None, min_length=1, description="PostgreSQL URL or SQLite path")
    durable: str = Field(
        default="storelens-central",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Durable consumer name: its position survives restarts; one name per central deployment",
    )
    filter_subject: str | None = Field(
        default=None, min_length=1, max_length=256, description="Subjects to consume (default <subject_prefix>.>)"
    )
    batch: int = Field(default=500, ge=1, le=10_000, description="Events fetched and committed per transaction")
    inflight: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Batches held at once: 2 fetches the next batch while the current one commits",
    )
    retry_initial_s: float = Field(default=0.5, gt=0, le=60, description="First retry delay after an outage")
    retry_max_s: float = Field(default=30.0, gt=0, le=600, description="Longest retry delay")
    metrics_port: int | None = Field(default=None, ge=1, le=65535, description="Serve Prometheus /metrics here")
    metrics_host: str = Field(default="127.0.0.1", min_length=1, description="Interface for the metrics server")
    aggregate_buckets_s: AggregateBuckets = Field(
        default_factory=default_aggregate_buckets,
        description="Aggregate bucket sizes (s); use the edge nodes' storage.aggregate_buckets_s",
    )

    @model_validator(mode="after")
    def _backoff(self) -> CentralConfig:
        check_backoff(self.retry_initial_s, self.retry_max_s, "retry_initial_s", "retry_max_s")
        return self

    @property
    def subject(self) -> str:
        return self.filter_subject or f"{self.nats.subject_prefix}.>"
