"""`cohorts serve | migrate | reencode | token`: the command-line entry point."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

import jwt

from cohorts.logs import configure_logging
from cohorts.priority import default_niceness, lower_priority
from cohorts.settings import Settings

_log = logging.getLogger("cohorts")

DEFAULT_HTTP_LISTEN = "127.0.0.1:8080"


def _database_urls(settings: Settings) -> tuple[str, str]:
    """(owner URL for migrations, service URL): configured, or the embedded server's."""
    if settings.database_url:
        return settings.migrations_database_url or settings.database_url, settings.database_url
    from cohorts.storage.database import as_role
    from cohorts.storage.embedded import start_embedded_postgres

    _log.info("no COHORTS_DATABASE_URL: starting the embedded PostgreSQL")
    owner = start_embedded_postgres((settings.data_dir / "pgdata").resolve(), keep=False)
    # Migrations create the cohorts_app role; the service then connects as it.
    return owner, as_role(owner)


def _serve(settings: Settings) -> int:
    from cohorts.storage.database import migrate

    if settings.workers > 1 and settings.listen.endswith(":0"):
        print("COHORTS_LISTEN with port 0 needs COHORTS_WORKERS=1", file=sys.stderr)
        return 2
    if settings.http_listen and settings.listen.endswith(":0"):
        print(
            "COHORTS_LISTEN with port 0 cannot be used with COHORTS_HTTP_LISTEN: the gateway "
            "needs the workers' port; choose one",
            file=sys.stderr,
        )
        return 2
    owner_url, service_url = _database_urls(settings)
    if settings.migrate_on_start:
        migrate(owner_url)
        _log.info("database schema is up to date")
    # Create the development secret (if one is used) before any worker races to.
    settings.hs256_secret()
    # After the embedded database has started, which keeps its own priority.
    niceness = settings.niceness
    lower_priority(default_niceness(service_url) if niceness is None else niceness)
    if settings.workers == 1 and not settings.http_listen:
        return _run_worker(settings, database_url=service_url, serve_metrics=True)
    from cohorts.supervisor import Supervisor

    return Supervisor(settings, database_url=service_url).run()


def _run_worker(
    settings: Settings,
    *,
    database_url: str,
    serve_metrics: bool,
    also_listen: tuple[str, ...] = (),
) -> int:
    import uvloop

    from cohorts.server import serve

    if serve_metrics and settings.metrics_listen:
        from cohorts.metrics import serve_metrics as start_metrics_endpoint

        start_metrics_endpoint(settings.metrics_listen)
    uvloop.run(serve(settings, database_url=database_url, also_listen=also_listen))
    return 0


def _migrate(settings: Settings) -> int:
    from cohorts.storage.database import migrate

    migrate(_database_urls(settings)[0])
    _log.info("database schema is up to date")
    return 0


def _reencode(settings: Settings) -> int:
    import psycopg

    from cohorts.api.wire import COHORT_WIRE
    from cohorts.storage.database import psycopg_conninfo
    from cohorts.storage.reencode import reencode

    with psycopg.connect(psycopg_conninfo(_database_urls(settings)[0])) as connection:
        count = reencode(
            connection, COHORT_WIRE, progress=lambda done: _log.info("re-encoded %d rows", done)
        )
    _log.info(
        "every cohort's stored encoding is format %d (%d rows re-encoded)",
        COHORT_WIRE.format,
        count,
    )
    return 0


def _gateway_config(settings: Settings, args: argparse.Namespace) -> int:
    from cohorts.gateway.envoy_config import render_json
    from cohorts.gateway.process import gateway_options

    listen = args.listen or settings.http_listen or DEFAULT_HTTP_LISTEN
    if args.upstream:
        settings = settings.model_copy(update={"listen": args.upstream})
    print(render_json(gateway_options(settings, listen=listen)))
    return 0


def mint_token(secret: str, *, tenant: str, subject: str, app: str | None, ttl_seconds: int) -> str:
    """An HS256 token for the given identity."""
    now = int(time.time())
    claims: dict[str, object] = {"tenant_id": tenant, "sub": subject, "iat": now}
    claims["exp"] = now + ttl_seconds
    if app:
        claims["app_id"] = app
    return jwt.encode(claims, secret, algorithm="HS256")


def _token(settings: Settings, args: argparse.Namespace) -> int:
    secret = settings.hs256_secret()
    if secret is None:
        print(
            "cohorts token mints HS256 tokens; set COHORTS_JWT_SECRET or leave every JWT "
            "setting unset to use the development secret",
            file=sys.stderr,
        )
        return 2
    print(
        mint_token(secret, tenant=args.tenant, subject=args.sub, app=args.app, ttl_seconds=args.ttl)
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one cohorts command."""
    parser = argparse.ArgumentParser(prog="cohorts", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server (the default for `make run`)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser(
        "reencode", help="store the current encoding on every cohort stored without it"
    )
    # Started by the supervisor with COHORTS_DATABASE_URL set; not for people.
    worker = commands.add_parser("worker", help=argparse.SUPPRESS)
    worker.add_argument("--also-listen", action="append", default=[])
    gateway = commands.add_parser(
        "gateway-config",
        help="print the Envoy config of the HTTP/JSON and gRPC-Web gateway, to run Envoy yourself",
        description="Print the Envoy bootstrap `cohorts serve` runs when COHORTS_HTTP_LISTEN is "
        "set (JSON, self-contained: `envoy -c FILE`). Reads the same COHORTS_* settings.",
    )
    gateway.add_argument(
        "--listen",
        default=None,
        help=f"address Envoy listens on (default: COHORTS_HTTP_LISTEN, else {DEFAULT_HTTP_LISTEN})",
    )
    gateway.add_argument(
        "--upstream",
        default=None,
        help="host:port of the gRPC workers (default: COHORTS_LISTEN)",
    )
    token = commands.add_parser("token", help="mint an HS256 token for development")
    token.add_argument("--tenant", required=True)
    token.add_argument("--sub", required=True)
    token.add_argument("--app", default=None)
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(
        settings.log_level,
        json_lines=None if settings.log_format == "auto" else settings.log_format == "json",
    )
    if args.command == "serve":
        return _serve(settings)
    if args.command == "worker":
        assert settings.database_url, "workers are started with COHORTS_DATABASE_URL set"
        return _run_worker(
            settings,
            database_url=settings.database_url,
            serve_metrics=False,
            also_listen=tuple(args.also_listen),
        )
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "reencode":
        return _reencode(settings)
    if args.command == "gateway-config":
        return _gateway_config(settings, args)
    return _token(settings, args)


if __name__ == "__main__":
    sys.exit(main())
