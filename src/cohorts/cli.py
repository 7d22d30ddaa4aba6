"""`cohorts serve | migrate | reencode | gateway-config | token`: the command-line entry point."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

import jwt
from pydantic import ValidationError

from cohorts.logs import configure_logging
from cohorts.priority import lower_priority
from cohorts.settings import DEV_SECRET_FILE, Settings, setting_problems

_log = logging.getLogger("cohorts")

DEFAULT_HTTP_LISTEN = "127.0.0.1:8080"
CONFIGURATION_ERROR = 2
_ENVIRONMENT = (
    "Settings come from COHORTS_* environment variables (README: Configuration); a bad one "
    "is reported on one line and the command exits 2."
)


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
    from cohorts.lifetime import die_with_parent
    from cohorts.preflight import address_problems, database_problem
    from cohorts.storage.database import migrate

    # Whatever stops the process that started us (a shell, `make run`) stops us too.
    die_with_parent()
    problems = []
    if settings.workers > 1 and settings.listen.endswith(":0"):
        problems.append(
            f"COHORTS_LISTEN={settings.listen!r}: port 0 needs COHORTS_WORKERS=1 "
            f"(workers share one port; {settings.workers} would each get their own)"
        )
    if settings.http_listen and settings.listen.endswith(":0"):
        problems.append(
            f"COHORTS_LISTEN={settings.listen!r}: port 0 cannot be used with "
            "COHORTS_HTTP_LISTEN; the gateway needs the workers' port, so choose one"
        )
    problems += filter(None, [settings.page_token_problem()])
    problems += address_problems(settings)
    if settings.database_url and not problems:
        for variable, url in (
            ("COHORTS_DATABASE_URL", settings.database_url),
            ("COHORTS_MIGRATIONS_DATABASE_URL", settings.migrations_database_url),
        ):
            problem = database_problem(variable, url) if url else None
            if problem:
                problems.append(problem)
    if problems:
        return _refuse(problems)
    owner_url, service_url = _database_urls(settings)
    if settings.migrate_on_start:
        migrate(owner_url)
        _log.info("database schema is up to date")
    # Create the development secret (if one is used) before any worker races to.
    settings.hs256_secret()
    _log.info(
        "%d worker(s) x %d pooled connections: up to %d database connections",
        settings.workers,
        settings.pool_size,
        settings.workers * settings.pool_size,
    )
    # After the embedded database has started, which keeps its own priority.
    lower_priority(settings.niceness)
    if settings.workers == 1 and not settings.http_listen:
        return _run_worker(settings, database_url=service_url, serve_metrics=True)
    from cohorts.supervisor import Supervisor

    return Supervisor(settings, database_url=service_url).run()


def _refuse(problems: list[str]) -> int:
    """Print each configuration problem on a line of its own; the exit status of bad settings."""
    for problem in problems:
        print(f"cohorts: {problem}", file=sys.stderr)
    return CONFIGURATION_ERROR


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
    from cohorts.preflight import database_problem
    from cohorts.storage.database import migrate

    owner = settings.migrations_database_url or settings.database_url
    variable = (
        "COHORTS_MIGRATIONS_DATABASE_URL"
        if settings.migrations_database_url
        else "COHORTS_DATABASE_URL"
    )
    problem = database_problem(variable, owner) if owner else None
    if problem:
        return _refuse([problem])
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
    if settings.jwt_public_key_file is not None or settings.jwks is not None:
        if settings.jwt_secret is None:
            return _refuse(
                [
                    "cohorts token mints HS256 tokens, but the server verifies tokens with "
                    "COHORTS_JWT_PUBLIC_KEY_FILE or COHORTS_JWKS; mint them with your issuer"
                ]
            )
    secret = settings.jwt_secret
    if secret is None:
        # The server's development secret, never a new one: a token signed with a secret
        # made here would not verify against the server's.
        path = (settings.data_dir / DEV_SECRET_FILE).resolve()
        if not path.is_file():
            return _refuse(
                [
                    f"no development secret at {path}: run `cohorts token` where the server "
                    "runs (it creates the secret on first start), or set COHORTS_DATA_DIR to "
                    "the server's data directory, or COHORTS_JWT_SECRET to its secret"
                ]
            )
        secret = path.read_text().strip()
    print(
        mint_token(secret, tenant=args.tenant, subject=args.sub, app=args.app, ttl_seconds=args.ttl)
    )
    return 0


def _claim(value: str) -> str:
    """A tenant, subject or application id the server will accept (argparse type)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty or blank")
    if len(value) > 256 or not value.isprintable():
        raise argparse.ArgumentTypeError("must be at most 256 printable characters")
    return value


def _lifetime(value: str) -> int:
    """A token lifetime in seconds (argparse type)."""
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds") from None
    if not 1 <= seconds <= 366 * 24 * 3600:
        raise argparse.ArgumentTypeError("must be between 1 second and a year")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cohorts", description=__doc__, epilog=_ENVIRONMENT)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{serve,migrate,reencode,gateway-config,token}"
    )
    commands.add_parser(
        "serve",
        help="run the gRPC server, and the HTTP gateway when COHORTS_HTTP_LISTEN is set",
        description="Serve CohortService: COHORTS_WORKERS processes on COHORTS_LISTEN (gRPC), "
        "Envoy on COHORTS_HTTP_LISTEN (HTTP/JSON, gRPC-Web), /metrics on "
        "COHORTS_METRICS_LISTEN. Without COHORTS_DATABASE_URL it starts a private PostgreSQL "
        "in COHORTS_DATA_DIR. Stops cleanly on SIGTERM or SIGINT, and when the process that "
        "started it ends.",
        epilog=_ENVIRONMENT,
    )
    commands.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply Alembic migrations as COHORTS_MIGRATIONS_DATABASE_URL (else "
        "COHORTS_DATABASE_URL, else the embedded PostgreSQL).",
        epilog=_ENVIRONMENT,
    )
    commands.add_parser(
        "reencode",
        help="store the current encoding on every cohort stored without it",
        epilog=_ENVIRONMENT,
    )
    gateway = commands.add_parser(
        "gateway-config",
        help="print the Envoy config of the HTTP/JSON and gRPC-Web gateway, to run Envoy yourself",
        description="Print the Envoy bootstrap `cohorts serve` runs when COHORTS_HTTP_LISTEN is "
        "set (JSON, self-contained: `envoy -c FILE`). Reads COHORTS_HTTP_CORS_ORIGINS, "
        "COHORTS_MAX_MESSAGE_BYTES and COHORTS_HTTP_REQUEST_TIMEOUT_SECONDS.",
        epilog=_ENVIRONMENT,
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
    token = commands.add_parser(
        "token",
        help="mint an HS256 token for development",
        description="Print a signed HS256 JWT for the server's key: COHORTS_JWT_SECRET, or the "
        "development secret the server created in COHORTS_DATA_DIR (default .cohorts). "
        "Refuses when the server verifies with a public key or a JWKS.",
        epilog=_ENVIRONMENT,
    )
    token.add_argument("--tenant", required=True, type=_claim, help="the tenant_id claim")
    token.add_argument("--sub", required=True, type=_claim, help="the sub claim (who calls)")
    token.add_argument(
        "--app", default=None, type=_claim, help="the app_id claim, for an application token"
    )
    token.add_argument(
        "--ttl", type=_lifetime, default=3600, help="lifetime in seconds (default 3600)"
    )
    return parser


def _worker_parser() -> argparse.ArgumentParser:
    # `cohorts worker` is started by the supervisor, with COHORTS_DATABASE_URL set; it is
    # not for people, so it has a parser of its own and stays out of `cohorts --help`.
    parser = argparse.ArgumentParser(prog="cohorts worker")
    parser.add_argument("--also-listen", action="append", default=[])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one cohorts command."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    worker = arguments[:1] == ["worker"]
    args = _worker_parser().parse_args(arguments[1:]) if worker else _parser().parse_args(arguments)
    try:
        settings = Settings()
    except ValidationError as error:
        return _refuse(setting_problems(error))
    configure_logging(
        settings.log_level,
        json_lines=None if settings.log_format == "auto" else settings.log_format == "json",
    )
    if worker:
        assert settings.database_url, "workers are started with COHORTS_DATABASE_URL set"
        return _run_worker(
            settings,
            database_url=settings.database_url,
            serve_metrics=False,
            also_listen=tuple(args.also_listen),
        )
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "reencode":
        return _reencode(settings)
    if args.command == "gateway-config":
        return _gateway_config(settings, args)
    return _token(settings, args)


if __name__ == "__main__":
    sys.exit(main())
