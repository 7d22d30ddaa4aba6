"""Builds and runs the gRPC server: CohortService, health, reflection, graceful stop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer
from psycopg_pool import AsyncConnectionPool

from cohorts.api.auth import AuthInterceptor, TokenVerifier
from cohorts.api.handlers import SERVICE_NAME, cohort_service_handlers
from cohorts.api.jwks import JwksKeys
from cohorts.api.observability import ObservabilityInterceptor
from cohorts.api.servicer import CohortServicer
from cohorts.api.shutdown import ShutdownGate
from cohorts.api.wire import COHORT_WIRE
from cohorts.metrics import POOL_SIZE, PrometheusStorageObserver
from cohorts.service.cohorts import Clock, CohortUseCases, utc_now
from cohorts.service.page_tokens import PageTokenCodec
from cohorts.service.tenant_limits import TenantConcurrency
from cohorts.settings import Settings
from cohorts.storage.database import (
    database_answers,
    open_pool,
    warn_if_row_security_is_bypassed,
)
from cohorts.storage.unit_of_work import DatabaseStatus, SqlUnitOfWorkFactory
from cohorts.tracing import sql_spans, start_tracing

_log = logging.getLogger(__name__)

HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
# grpcio-reflection serves only v1alpha; v1's messages are identical on the
# wire, so the same servicer answers both (grpcurl and buf curl ask for v1).
REFLECTION_V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"


_DRAIN_SECONDS = 0.25
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def watch_database(
    database_url: str,
    pool: AsyncConnectionPool[Any],
    status: DatabaseStatus,
    health_servicer: HealthServicer,
    *,
    interval_seconds: float,
) -> None:
    """Keep health SERVING, and calls admitted, exactly while the database answers."""
    serving: bool | None = None
    while True:
        answers = await database_answers(database_url, timeout_seconds=max(interval_seconds, 1.0))
        if answers and serving is False:
            await pool.check()  # drop the connections the outage broke
        status.available = answers
        if answers != serving:
            serving = answers
            for name in ("", SERVICE_NAME):
                await health_servicer.set(name, _SERVING if answers else _NOT_SERVING)
            if answers:
                _log.info("database answers: health is SERVING")
            else:
                _log.warning("database does not answer: health is NOT_SERVING")
        await asyncio.sleep(interval_seconds)


@dataclass
class RunningServer:
    """A started server and what must be closed after it."""

    server: grpc.aio.Server
    port: int
    health: HealthServicer
    pool: AsyncConnectionPool[Any]
    units_of_work: SqlUnitOfWorkFactory
    database_watch: asyncio.Task[None]
    gate: ShutdownGate
    background: tuple[asyncio.Task[None], ...] = ()  # e.g. the JWKS's scheduled reads

    async def stop(self, grace_seconds: float) -> None:
        """Go NOT_SERVING, refuse new calls, let in-flight calls finish, then close the pool."""
        self.database_watch.cancel()
        for task in self.background:
            task.cancel()
        await self.health.enter_graceful_shutdown()
        self.gate.close()
        # Calls already queued reach the gate (UNAVAILABLE) instead of being cancelled.
        await asyncio.sleep(min(_DRAIN_SECONDS, grace_seconds))
        await self.server.stop(grace_seconds)
        await self.pool.close()


def token_verifier(settings: Settings) -> TokenVerifier:
    """The verifier the settings describe."""
    public_key = settings.jwt_public_key_file.read_text() if settings.jwt_public_key_file else None
    return TokenVerifier(
        hs256_secret=settings.hs256_secret(),
        public_key_pem=public_key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        jwks=(
            JwksKeys(
                settings.jwks,
                min_refresh_seconds=settings.jwks_refresh_seconds,
                max_age_seconds=settings.jwks_max_age_seconds,
            )
            if settings.jwks
            else None
        ),
    )


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    """The grpc.aio server's channel options the settings describe."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        # Above grpc's 8 KiB soft limit, which rejects headers near it at random:
        # an oversized token must reach the auth interceptor and get its own answer.
        ("grpc.max_metadata_size", 32 * 1024),
        ("grpc.absolute_max_metadata_size", 64 * 1024),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_seconds * 1000)),
        # Workers share the port; a lone process must not share it by accident.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]


def _add_reflection(server: grpc.aio.Server, service_names: list[str]) -> None:
    # v1 is served but not listed: no v1 descriptor ships with grpcio-reflection,
    # and listing a service whose schema cannot be fetched breaks `buf curl --list-*`.
    names = [*service_names, reflection.SERVICE_NAME]
    servicer = ReflectionServicer(names)  # type: ignore[no-untyped-call]
    for name in (reflection.SERVICE_NAME, REFLECTION_V1_SERVICE_NAME):
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler}),)
        )


async def start_server(
    settings: Settings,
    *,
    database_url: str,
    clock: Clock = utc_now,
    span_exporter: Any | None = None,
    also_listen: tuple[str, ...] = (),
) -> RunningServer:
    """Start serving on settings.listen (port 0 picks a free port) and on also_listen.

    also_listen holds this process's own addresses (the gateway's `unix:` socket to it).
    """
    await warn_if_row_security_is_bypassed(database_url)
    pool = await open_pool(
        database_url,
        pool_size=settings.pool_size,
        pool_timeout_seconds=settings.pool_timeout_seconds,
    )
    POOL_SIZE.inc(settings.pool_size)
    status = DatabaseStatus()
    units_of_work = SqlUnitOfWorkFactory(
        pool,
        pool_timeout_seconds=settings.pool_timeout_seconds,
        max_statement_seconds=settings.statement_timeout_seconds,
        observer=PrometheusStorageObserver(),
        status=status,
    )
    use_cases = CohortUseCases(
        units_of_work,
        PageTokenCodec(settings.page_token_key()),
        COHORT_WIRE,
        clock=clock,
        lists_per_tenant=TenantConcurrency(
            running=settings.tenant_lists_running, waiting=settings.tenant_lists_waiting
        ),
    )
    tracer_provider = start_tracing(exporter=span_exporter) if settings.otel_enabled else None
    if tracer_provider is not None:
        units_of_work.statement_hooks.append(sql_spans(tracer_provider))
    gate = ShutdownGate()
    verifier = token_verifier(settings)
    server = grpc.aio.server(
        # The first interceptor is the outermost: it sees every call, rejected ones too.
        interceptors=[ObservabilityInterceptor(), gate, AuthInterceptor(verifier)],
        options=server_options(settings),
    )
    servicer = CohortServicer(use_cases, max_response_bytes=settings.max_message_bytes)
    # Generic, not registered, handlers: grpc.aio admits registered methods'
    # calls method by method, so under saturation each method completes about
    # as many calls as any other and the busiest one queues behind the rest
    # (docs/performance.md, "Generic handlers").
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE_NAME, cohort_service_handlers(servicer)),)
    )
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)  # type: ignore[no-untyped-call]
    _add_reflection(server, [SERVICE_NAME, HEALTH_SERVICE_NAME])

    try:
        port = server.add_insecure_port(settings.listen)
        for address in also_listen:
            server.add_insecure_port(address)
        await server.start()
    except BaseException:
        # The pool connects in the background: close it, or its tasks keep
        # this process alive after the failure (a worker must die to be restarted).
        await pool.close()
        raise
    database_watch = asyncio.create_task(
        watch_database(
            database_url,
            pool,
            status,
            health_servicer,
            interval_seconds=settings.health_check_interval_seconds,
        )
    )
    return RunningServer(
        server=server,
        port=port,
        health=health_servicer,
        pool=pool,
        units_of_work=units_of_work,
        database_watch=database_watch,
        background=((asyncio.create_task(verifier.jwks.keep_fresh()),) if verifier.jwks else ()),
        gate=gate,
    )


async def serve(
    settings: Settings, *, database_url: str, also_listen: tuple[str, ...] = ()
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    running = await start_server(settings, database_url=database_url, also_listen=also_listen)
    # What is alive now (modules, table metadata, descriptors, caches) lives as
    # long as the process. Frozen, the collector stops re-scanning it in every
    # full collection, during which the worker serves nothing (docs/performance.md,
    # "Freezing the start-up heap").
    gc.collect()
    gc.freeze()
    _log.info("CohortService listening on %s (port %d)", settings.listen, running.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    _log.info("shutting down: draining for up to %.1fs", settings.grace_period_seconds)
    await running.stop(settings.grace_period_seconds)
    _log.info("stopped")
