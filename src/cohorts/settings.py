"""The one typed settings object, read from COHORTS_* environment variables."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_log = logging.getLogger(__name__)

DEV_SECRET_FILE = "dev-jwt-secret"
_MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    """Configuration of one CohortService process (see README: Configuration)."""

    model_config = SettingsConfigDict(env_prefix="COHORTS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL the service connects with (as the non-owner cohorts_app "
        "role, so row-level security applies); unset starts the embedded server",
    )
    migrations_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the schema owner, for migrations; defaults to database_url",
    )
    data_dir: Path = Field(
        default=Path(".cohorts"), description="embedded PostgreSQL data and development secrets"
    )
    listen: str = "127.0.0.1:50051"
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="server processes sharing the port (SO_REUSEPORT)",
    )
    niceness: int | None = Field(
        default=None,
        ge=0,
        le=19,
        description="how far the server processes lower their CPU priority (nice), so a "
        "database on the same host runs first; unset: 10 with a database on this host "
        "(the embedded one, or a loopback or Unix-socket URL), else 0",
    )
    http_listen: str | None = Field(
        default=None,
        description="host:port of the HTTP/JSON and gRPC-Web gateway (Envoy); unset or empty: "
        "no gateway",
    )
    http_cors_origins: str = Field(
        default="",
        description="comma-separated browser origins allowed to call the gateway (CORS); "
        "empty: none",
    )
    http_request_timeout_seconds: float = Field(
        default=60.0, gt=0, description="longest HTTP/JSON call the gateway waits for"
    )
    metrics_listen: str | None = Field(
        default=None, description="host:port for Prometheus /metrics; unset: no endpoint"
    )
    keepalive_time_seconds: float = Field(default=60.0, gt=0)
    keepalive_timeout_seconds: float = Field(default=20.0, gt=0)
    max_concurrent_streams: int = Field(default=256, ge=1)
    migrate_on_start: bool = True
    jwt_secret: str | None = None
    jwt_public_key_file: Path | None = None
    jwks: str | None = Field(
        default=None, description="JWKS document (file path or http(s) URL) for RS256/ES256"
    )
    jwks_refresh_seconds: float = Field(default=10.0, ge=0)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 30
    page_token_secret: str | None = None
    pool_size: int = Field(default=10, ge=1)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    statement_timeout_seconds: float = Field(default=30.0, gt=0)
    health_check_interval_seconds: float = Field(default=2.0, gt=0)
    grace_period_seconds: float = Field(default=10.0, ge=0)
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    otel_enabled: bool = Field(
        default=False, description="OpenTelemetry spans for RPCs and SQL (needs the otel extra)"
    )
    bench_echo: bool = Field(
        default=False, description="serve cohorts.bench.Echo/Echo for `make bench` ceilings"
    )

    def http_cors_origin_list(self) -> tuple[str, ...]:
        """The allowed CORS origins, in the order configured."""
        return tuple(
            origin.strip() for origin in self.http_cors_origins.split(",") if origin.strip()
        )

    def development_secret(self) -> str:
        """The on-disk secret used when no JWT key is configured; created on first use."""
        path = self.data_dir / DEV_SECRET_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def hs256_secret(self) -> str | None:
        """The HS256 secret in force: configured, or the development one when nothing is."""
        if self.jwt_secret is not None:
            if len(self.jwt_secret.encode()) < _MIN_SECRET_BYTES:
                raise ValueError(
                    f"COHORTS_JWT_SECRET must be at least {_MIN_SECRET_BYTES} bytes long"
                )
            return self.jwt_secret
        if self.jwt_public_key_file is not None or self.jwks is not None:
            return None
        _log.warning(
            "no COHORTS_JWT_SECRET or COHORTS_JWT_PUBLIC_KEY_FILE set: using the development "
            "secret in %s (mint tokens with `cohorts token`); never do this in production",
            self.data_dir / DEV_SECRET_FILE,
        )
        return self.development_secret()

    def page_token_key(self) -> bytes:
        """Key that signs page tokens; every replica must share it."""
        if self.page_token_secret is not None:
            return self.page_token_secret.encode()
        return ("page-token:" + (self.jwt_secret or self.development_secret())).encode()
