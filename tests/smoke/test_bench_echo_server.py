"""bench/echo_server.py: the echo ceiling answers what it is sent, to a valid bearer token only."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from learning.v1 import cohort_service_pb2

from bench.calls import Call, check_echo_authenticates
from bench.dataset import token
from bench.echo_server import ECHO_PATH
from bench.servers import EchoServer


@pytest.fixture
def echo_server(tmp_path: Path):
    server = EchoServer(workers=2, log_path=tmp_path / "echo.log")
    try:
        yield server
    finally:
        server.stop()


def _echo(target: str, body: bytes, metadata: tuple[tuple[str, str], ...]) -> bytes:
    with grpc.insecure_channel(target) as channel:
        invoke = channel.unary_unary(ECHO_PATH, request_serializer=None, response_deserializer=None)
        response: bytes = invoke(body, metadata=metadata, timeout=10)
        return response


def test_the_echo_answers_with_the_bytes_it_was_sent(echo_server: EchoServer):
    body = cohort_service_pb2.GetCohortRequest(id="coh_echo").SerializeToString()

    answer = _echo(echo_server.target, body, (("authorization", f"Bearer {token('t1')}"),))

    assert answer == body


def test_the_echo_refuses_a_call_without_a_token_or_with_a_forged_one(echo_server: EchoServer):
    body = cohort_service_pb2.GetCohortRequest(id="coh_echo").SerializeToString()

    with pytest.raises(grpc.RpcError) as refused:
        _echo(echo_server.target, body, ())

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    check_echo_authenticates(
        echo_server.target, token("t1"), Call("echo", ECHO_PATH, [body], echo=True)
    )


def test_every_worker_listens_on_the_shared_port_and_on_a_socket_of_its_own(
    echo_server: EchoServer,
):
    sockets = echo_server.worker_sockets()

    assert echo_server.listening() == 2
    assert echo_server.processes() == 3  # the parent and its two workers
    assert len(sockets) == 2
    assert all(Path(address.removeprefix("unix:")).is_socket() for address in sockets)
