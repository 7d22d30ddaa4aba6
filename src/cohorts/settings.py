"""The one typed settings object, read from COHORTS_* environment variables."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, ValidationError, field_validator
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
    listen: str = Field(
        default="127.0.0.1:50051",
        description="host:port of the gRPC workers (port 0 picks a free one; one worker only)",
    )
    workers: int = Field(
        default_factory=lambda: usable_cpus(),
        ge=1,
        le=512,
        description="server processes sharing the port (SO_REUSEPORT); unset: the CPUs this "
        "process may use (affinity and cgroup quota)",
    )
    niceness: int = Field(
        default=0,
        ge=0,
        le=19,
        description="how far the server processes lower their CPU priority (nice), so a "
        "database sharing the host's cores runs first (cohorts.priority); 0: not at all",
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
    jwks_refresh_seconds: float = Field(
        default=10.0,
        ge=0,
        description="at most one JWKS read per this many seconds for tokens naming an unknown kid",
    )
    jwks_max_age_seconds: float = Field(
        default=300.0,
        gt=0,
        description="read the JWKS at least this often (sooner if its Cache-Control says so), "
        "so withdrawn keys stop verifying",
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 30
    page_token_secret: str | None = None
    pool_size: int = Field(default=10, ge=1)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    statement_timeout_seconds: float = Field(default=30.0, gt=0)
    tenant_lists_running: int = Field(
        default=2,
        ge=1,
        description="ListCohorts calls of one tenant a worker runs at once (the rest queue)",
    )
    tenant_lists_waiting: int = Field(
        default=64,
        ge=0,
        description="ListCohorts calls of one tenant that may queue in a worker; beyond: "
        "RESOURCE_EXHAUSTED",
    )
    health_check_interval_seconds: float = Field(default=2.0, gt=0)
    grace_period_seconds: float = Field(default=10.0, ge=0)
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    otel_enabled: bool = Field(
        default=False, description="OpenTelemetry spans for RPCs and SQL (needs the otel extra)"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("listen")
    @classmethod
    def _grpc_address(cls, value: str) -> str:
        return check_address(value, allow_port_zero=True)

    @field_validator("http_listen", "metrics_listen")
    @classmethod
    def _optional_address(cls, value: str | None) -> str | None:
        return check_address(value, allow_port_zero=False) if value else None

    @field_validator("database_url", "migrations_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError(
                "must be a postgresql:// URL, e.g. postgresql://user:pass@host:5432/db"
            )
        try:
            parts = conninfo_to_dict(value.replace("postgresql+psycopg://", "postgresql://", 1))
        except psycopg.ProgrammingError as error:
            raise ValueError(f"is not a valid PostgreSQL URL ({error})") from None
        ports = str(parts.get("port") or "")
        if ports and not all(port.isdigit() for port in ports.split(",")):
            raise ValueError(f"is not a valid PostgreSQL URL (port {ports!r} is not a number)")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < _MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {_MIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"
            )
        return value

    @field_validator("jwt_public_key_file")
    @classmethod
    def _readable_key(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("names no readable file; give the path of a PEM public key")
        return value

    @field_validator("jwks")
    @classmethod
    def _jwks_source(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")) and not Path(value).is_file():
            raise ValueError("must be an http(s) URL or the path of a JWKS file")
        return value or None

    def page_token_problem(self) -> str | None:
        """Why replicas serving with these settings would refuse each other's page tokens."""
        # The development secret is made on each host. Only the embedded database is
        # development by definition.
        if self.database_url and not (self.page_token_secret or self.jwt_secret):
            return (
                "COHORTS_PAGE_TOKEN_SECRET is required with COHORTS_DATABASE_URL unless "
                "COHORTS_JWT_SECRET is set: every replica must sign page tokens with the same key"
            )
        return None

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


def split_host_port(address: str, *, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """("127.0.0.1", 8080) from "127.0.0.1:8080" (an address check_address accepted).

    IPv6 hosts lose their brackets; an empty host is default_host.
    """
    host, _, port = address.rpartition(":")
    return host.strip("[]") or default_host, int(port)


def check_address(value: str, *, allow_port_zero: bool) -> str:
    """value if it is host:port with a valid port (IPv6 hosts in brackets); ValueError if not."""
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError("must be host:port, e.g. 127.0.0.1:50051 or [::1]:50051 or :50051")
    number = int(port)
    if not (0 if allow_port_zero else 1) <= number <= 65535:
        raise ValueError(f"port {number} is not between {0 if allow_port_zero else 1} and 65535")
    bare = host.strip("[]")
    if ":" in bare or host.startswith("["):
        if not (host.startswith("[") and host.endswith("]")):
            raise ValueError("an IPv6 host must be in brackets, e.g. [::1]:50051")
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            raise ValueError(f"{bare!r} is not an IPv6 address") from None
    return value


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period) + 0.999)))
    except (OSError, ValueError):
        pass
    return max(cpus, 1)


def setting_problems(error: ValidationError) -> list[str]:
    """One line per bad setting: the variable, its value and what to do."""
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not field:  # a rule across several settings; it names them itself
            lines.append(message)
            continue
        variable = f"COHORTS_{field.upper()}"
        value = os.environ.get(variable, problem.get("input"))
        shown = "(set)" if "secret" in field else repr(value)
        lines.append(f"{variable}={shown}: {message}")
    return lines
