"""The JWKS over HTTP: read off the event loop, on a schedule, at most once per cooldown.

A real HTTP server publishes the keys (and can be made slow); a real CohortService
reads them. The clock is the real one: these are the timings an operator would see.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from learning.v1 import cohort_service_pb2, cohort_service_pb2_grpc

from cohorts.storage.database import as_role
from tests.fixtures.server import ServerThread, bearer, make_settings
from tests.integration._assertions import error_info

pytestmark = pytest.mark.slow

KEY_1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SLOW_SECONDS = 3.0


class JwksPublisher:
    """An HTTP server publishing a JWKS: which keys, how fast, with what cache header."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.delay = 0.0
        self.cache_control: str | None = None
        self.fetches = 0
        publisher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                publisher.fetches += 1
                time.sleep(publisher.delay)
                body = json.dumps({"keys": publisher.documented()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if publisher.cache_control:
                    self.send_header("Cache-Control", publisher.cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/jwks.json"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def documented(self) -> list[dict[str, Any]]:
        keys = []
        for kid, key in self.keys.items():
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return keys

    def close(self) -> None:
        self.http.shutdown()


def token(kid: str, key: Any, tenant: str) -> str:
    now = int(time.time())
    claims = {"tenant_id": tenant, "sub": "person-1", "iat": now, "exp": now + 300}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def publisher() -> Iterator[JwksPublisher]:
    running = JwksPublisher()
    running.keys = {"key-1": KEY_1}
    yield running
    running.close()


@pytest.fixture
def serve_with_jwks(
    database_url: str, tmp_path: Path, publisher: JwksPublisher
) -> Iterator[Callable[..., cohort_service_pb2_grpc.CohortServiceStub]]:
    """Starts a server reading publisher's JWKS with the given refresh settings."""
    started: list[tuple[ServerThread, grpc.Channel]] = []

    def start(**settings: Any) -> cohort_service_pb2_grpc.CohortServiceStub:
        server = ServerThread(
            make_settings(tmp_path, jwt_secret=None, jwks=publisher.url, **settings),
            as_role(database_url),
        )
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        started.append((server, channel))
        return cohort_service_pb2_grpc.CohortServiceStub(channel)

    yield start
    for server, channel in started:
        channel.close()
        server.stop()


def _list(stub: Any, token_text: str) -> grpc.StatusCode:
    try:
        stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(page_size=1),
            metadata=bearer(token_text),
            timeout=20,
        )
    except grpc.RpcError as error:
        assert error_info(error).reason
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_a_slow_jwks_server_delays_no_call_but_the_one_waiting_for_a_new_key(
    serve_with_jwks: Callable[..., Any], publisher: JwksPublisher
):
    stub = serve_with_jwks(jwks_refresh_seconds=0)
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    known = token("key-1", KEY_1, tenant)
    assert _list(stub, known) == grpc.StatusCode.OK

    publisher.delay = SLOW_SECONDS
    publisher.keys["key-2"] = KEY_2
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        waiting = pool.submit(_list, stub, token("key-2", KEY_2, tenant))
        time.sleep(0.3)  # the fetch is under way
        latencies = []
        while not waiting.done():
            before = time.monotonic()
            assert _list(stub, known) == grpc.StatusCode.OK
            latencies.append(time.monotonic() - before)
        # The new key was published by the time the slow fetch answered.
        assert waiting.result() == grpc.StatusCode.OK
        waited = time.monotonic() - started
    assert waited >= SLOW_SECONDS * 0.9
    assert len(latencies) >= 10, latencies
    assert max(latencies) < 1.0, f"a call waited behind the JWKS fetch: {max(latencies):.2f}s"


def test_a_key_withdrawn_from_the_jwks_stops_verifying_within_the_refresh_period(
    serve_with_jwks: Callable[..., Any], publisher: JwksPublisher
):
    stub = serve_with_jwks(jwks_refresh_seconds=0.5, jwks_max_age_seconds=1.0)
    withdrawn = token("key-1", KEY_1, f"tenant-{uuid.uuid4().hex[:12]}")
    assert _list(stub, withdrawn) == grpc.StatusCode.OK  # now verified, and remembered

    publisher.keys = {"key-2": KEY_2}
    removed_at = time.monotonic()
    while _list(stub, withdrawn) == grpc.StatusCode.OK:
        assert time.monotonic() - removed_at < 3.0, "the withdrawn key still verifies"
        time.sleep(0.1)
    assert _list(stub, withdrawn) == grpc.StatusCode.UNAUTHENTICATED


def test_the_documents_cache_control_max_age_shortens_the_refresh_period(
    serve_with_jwks: Callable[..., Any], publisher: JwksPublisher
):
    publisher.cache_control = "public, max-age=1"
    stub = serve_with_jwks(jwks_refresh_seconds=0.5, jwks_max_age_seconds=300)
    withdrawn = token("key-1", KEY_1, f"tenant-{uuid.uuid4().hex[:12]}")
    assert _list(stub, withdrawn) == grpc.StatusCode.OK

    publisher.keys = {"key-2": KEY_2}
    removed_at = time.monotonic()
    while _list(stub, withdrawn) == grpc.StatusCode.OK:
        assert time.monotonic() - removed_at < 3.0, "max-age=1 was not honoured"
        time.sleep(0.1)


def test_a_burst_of_unknown_kids_reads_the_jwks_at_most_once_per_cooldown(
    serve_with_jwks: Callable[..., Any], publisher: JwksPublisher
):
    stub = serve_with_jwks(jwks_refresh_seconds=30)
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    fetched_at_start = publisher.fetches
    made_up = [token(f"made-up-{n}", KEY_2, tenant) for n in range(40)]

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda text: _list(stub, text), made_up))

    assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED}
    assert publisher.fetches - fetched_at_start <= 1
    assert _list(stub, token("key-1", KEY_1, tenant)) == grpc.StatusCode.OK
