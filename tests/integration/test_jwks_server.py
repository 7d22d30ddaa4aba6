"""A server configured with only a JWKS: RS256/ES256 tokens by kid, rotation without a restart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from learning.v1 import cohort_pb2, cohort_service_pb2, cohort_service_pb2_grpc

from cohorts.storage.database import as_role
from tests.fixtures.server import TEST_JWT_SECRET, ServerThread, bearer, make_settings
from tests.integration._assertions import count_rows, create, error_info, rpc_error


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk["alg"] = "RS256"
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk["alg"] = "ES256"
    return {**jwk, "kid": kid, "use": "sig"}


class PublishedKeys:
    """The JWKS file the server reads, and the private keys behind it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.private: dict[str, Any] = {}

    def publish(self, **keys: Any) -> None:
        """Replace the document (atomically) with exactly these kid=private_key pairs."""
        self.private.update(keys)
        document = {"keys": [_jwk(key, kid) for kid, key in keys.items()]}
        self.write_raw(json.dumps(document))

    def write_raw(self, text: str) -> None:
        staging = self.path.with_suffix(".tmp")
        staging.write_text(text)
        os.replace(staging, self.path)

    def token(self, kid: str, tenant: str, *, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {"tenant_id": tenant, "sub": "person-1", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(payload, self.private[kid], algorithm=algorithm, headers={"kid": kid})


RSA_1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_1 = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> PublishedKeys:
    published = PublishedKeys(tmp_path_factory.mktemp("jwks") / "jwks.json")
    published.publish(**{"rsa-1": RSA_1, "ec-1": EC_1})
    return published


@pytest.fixture(scope="module")
def jwks_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, keys: PublishedKeys
) -> Iterator[ServerThread]:
    settings = make_settings(
        tmp_path_factory.mktemp("cohorts-jwks"),
        jwt_secret=None,
        jwks=str(keys.path),
        jwks_refresh_seconds=0,
        page_token_secret="x",
    )
    running = ServerThread(settings, as_role(database_url))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def jwks_stub(jwks_server: ServerThread) -> Iterator[cohort_service_pb2_grpc.CohortServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{jwks_server.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield cohort_service_pb2_grpc.CohortServiceStub(channel)


@pytest.fixture
def published(keys: PublishedKeys) -> Iterator[PublishedKeys]:
    """The module's keys, restored to rsa-1 and ec-1 after a test that rotates them."""
    keys.publish(**{"rsa-1": RSA_1, "ec-1": EC_1})
    yield keys
    keys.publish(**{"rsa-1": RSA_1, "ec-1": EC_1})


def _get(stub: Any, token: str, cohort_id: str) -> cohort_pb2.Cohort:
    result: cohort_pb2.Cohort = stub.GetCohort(
        cohort_service_pb2.GetCohortRequest(id=cohort_id), metadata=bearer(token)
    )
    return result


def _assert_unauthenticated(error: grpc.RpcError, token: str, reason: str, *words: str) -> None:
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (error.code(), error.details())
    info = error_info(error)
    assert info.reason == reason, (info.reason, error.details())
    message = error.details() or ""
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    everything = message + repr(error.trailing_metadata()) + repr(info)
    assert token not in everything
    for segment in token.split("."):
        if len(segment) >= 8:
            assert segment not in everything, "a part of the token was echoed"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256_by_hand(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    head = _b64url(json.dumps(header).encode())
    body = _b64url(json.dumps(payload).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(mac)}"


def test_an_rs256_token_with_a_published_kid_creates_and_reads(jwks_stub, published, tenant):
    token = published.token("rsa-1", tenant, sub="dana", app_id="app-x")

    created = create(jwks_stub, bearer(token), name="Signed by rsa-1")
    fetched = _get(jwks_stub, token, created.id)

    assert (created.tenant_id, created.created_by, created.app_id) == (tenant, "dana", "app-x")
    assert fetched == created


def test_an_es256_token_with_a_published_kid_reads_what_rs256_created(jwks_stub, published, tenant):
    created = create(jwks_stub, bearer(published.token("rsa-1", tenant)), name="Shared")

    fetched = _get(jwks_stub, published.token("ec-1", tenant, algorithm="ES256"), created.id)

    assert fetched.id == created.id and fetched.tenant_id == tenant


def test_a_rotated_key_is_accepted_without_a_restart(jwks_stub, published, db, tenant):
    rotated_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = f"rsa-{uuid.uuid4().hex[:8]}"
    old_token = published.token("rsa-1", tenant)
    created = create(jwks_stub, bearer(old_token), name="Before rotation")

    published.publish(**{kid: rotated_key})
    new_token = published.token(kid, tenant, sub="after-rotation")

    fetched = _get(jwks_stub, new_token, created.id)
    assert fetched.id == created.id
    after = create(jwks_stub, bearer(new_token), name="After rotation")
    assert after.created_by == "after-rotation"
    # rsa-1 is no longer published: once the new document is loaded, it no longer verifies.
    error = rpc_error(lambda: _get(jwks_stub, old_token, created.id))
    _assert_unauthenticated(error, old_token, "TOKEN_KEY_UNKNOWN", "rsa-1")
    assert count_rows(db, tenant) == 2


def test_a_token_signed_by_a_key_not_yet_published_is_refused_then_accepted(
    jwks_stub, published, tenant
):
    next_key = ec.generate_private_key(ec.SECP256R1())
    kid = f"ec-{uuid.uuid4().hex[:8]}"
    published.private[kid] = next_key
    token = published.token(kid, tenant, algorithm="ES256")

    error = rpc_error(lambda: create(jwks_stub, bearer(token), name="Too early"))
    _assert_unauthenticated(error, token, "TOKEN_KEY_UNKNOWN", kid)

    published.publish(**{"rsa-1": RSA_1, "ec-1": EC_1, kid: next_key})
    assert create(jwks_stub, bearer(token), name="Published now").tenant_id == tenant


def test_an_hs256_token_is_refused_when_only_a_jwks_is_configured(jwks_stub, published, db, tenant):
    now = int(time.time())
    claims = {"tenant_id": tenant, "sub": "person-1", "iat": now, "exp": now + 300}
    token = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")

    error = rpc_error(lambda: create(jwks_stub, bearer(token), name="HS256"))

    _assert_unauthenticated(error, token, "TOKEN_ALGORITHM_REJECTED", "HS256", "RS256", "ES256")
    assert count_rows(db, tenant) == 0


def test_alg_confusion_with_the_published_rsa_key_is_refused(jwks_stub, published, db, tenant):
    now = int(time.time())
    claims = {"tenant_id": tenant, "sub": "person-1", "iat": now, "exp": now + 300}
    pem = RSA_1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, published.path.read_bytes()):
        token = _hs256_by_hand({"alg": "HS256", "kid": "rsa-1"}, claims, secret)
        error = rpc_error(lambda token=token: create(jwks_stub, bearer(token), name="Confused"))
        _assert_unauthenticated(error, token, "TOKEN_ALGORITHM_REJECTED", "HS256")
    assert count_rows(db, tenant) == 0


def test_an_unsigned_token_naming_a_published_kid_is_refused(jwks_stub, published, db, tenant):
    now = int(time.time())
    claims = {"tenant_id": tenant, "sub": "person-1", "iat": now, "exp": now + 300}
    header = _b64url(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    token = f"{header}.{_b64url(json.dumps(claims).encode())}."

    error = rpc_error(lambda: create(jwks_stub, bearer(token), name="Unsigned"))

    _assert_unauthenticated(error, token, "TOKEN_ALGORITHM_REJECTED", "none")
    assert count_rows(db, tenant) == 0


def test_a_token_with_a_non_string_kid_is_unauthenticated(jwks_stub, published, db, tenant):
    now = int(time.time())
    claims = {"tenant_id": tenant, "sub": "person-1", "iat": now, "exp": now + 300}
    token = jwt.encode(claims, RSA_1, algorithm="RS256")
    head, body, signature = token.split(".")
    token = f"{_b64url(json.dumps({'alg': 'RS256', 'kid': 1}).encode())}.{body}.{signature}"

    error = rpc_error(lambda: create(jwks_stub, bearer(token), name="Numeric kid"))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (error.code(), error.details())
    error_info(error)
    assert count_rows(db, tenant) == 0


def test_a_broken_jwks_document_does_not_break_authentication(jwks_stub, published, tenant):
    good = published.token("rsa-1", tenant)
    stray = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published.private["stray"] = stray
    unknown = published.token("stray", tenant)

    published.write_raw("[]")  # a publisher bug: valid JSON, but not a JWK Set

    error = rpc_error(lambda: create(jwks_stub, bearer(unknown), name="Unknown kid"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (error.code(), error.details())
    assert create(jwks_stub, bearer(good), name="Still fine").tenant_id == tenant
