"""TokenVerifier and JwksKeys with real RSA and EC keys: what is accepted and what is refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cohorts.api.auth import MAX_TOKEN_BYTES, TokenVerifier
from cohorts.api.jwks import JwksKeys
from cohorts.domain.caller import Caller
from cohorts.domain.errors import Unauthenticated

ISSUER = "https://id.example.test/"
AUDIENCE = "cohorts-api"
HS256_SECRET = "unit-test-hs256-secret-long-enough-0123456789"

_DROP = object()  # a claim override that removes the claim


# --- keys and tokens -------------------------------------------------------------------------


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    """The public JWK of key, as an identity provider publishes it (with kid and alg)."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk["alg"] = "RS256"
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk["alg"] = "ES256"
    jwk["kid"] = kid
    jwk["use"] = "sig"
    return jwk


def _write_jwks(path: Path, *jwks: dict[str, Any]) -> None:
    """Replace the JWKS document atomically, as a key publisher would."""
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps({"keys": list(jwks)}))
    os.replace(staging, path)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "tenant_id": "tenant-a",
        "sub": "person-1",
        "iat": now,
        "exp": now + 300,
    }
    for name, value in overrides.items():
        if value is _DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _sign(key: Any, algorithm: str, kid: str | None = None, **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(_claims(**overrides), key, algorithm=algorithm, headers=headers)


def _hand_built(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token whose parts are exactly the given ones (PyJWT refuses to build some of these)."""
    head = _b64url(json.dumps(header).encode())
    body = _b64url(json.dumps(payload).encode())
    return f"{head}.{body}.{_b64url(signature)}"


def _hs256_by_hand(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    head = _b64url(json.dumps(header).encode())
    body = _b64url(json.dumps(payload).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(mac)}"


def accept(verifier: TokenVerifier, token: str) -> Caller:
    """The caller, as the interceptor verifies: reading the JWKS again first for a new kid."""
    return asyncio.run(verifier.verify_refreshing(token))


def _rejected(verifier: TokenVerifier, token: str, reason: str, *words: str) -> str:
    """Verify refuses token with reason, a message naming every word, and no trace of the token."""
    with pytest.raises(Unauthenticated) as caught:
        accept(verifier, token)
    error = caught.value
    assert error.reason == reason, (error.reason, error.message)
    message = error.message
    assert message.strip(), "the message must say what is wrong"
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    said = f"{message} {error.reason} {error!s} {error!r}"
    assert not token or token not in said
    for segment in token.split("."):
        if len(segment) >= 8:
            assert segment not in said, "a part of the token was echoed"
    return message


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return _ec_key()


@pytest.fixture(scope="module")
def rsa_verifier(rsa_key: rsa.RSAPrivateKey) -> TokenVerifier:
    return TokenVerifier(public_key_pem=_public_pem(rsa_key))


@pytest.fixture(scope="module")
def ec_verifier(ec_key: ec.EllipticCurvePrivateKey) -> TokenVerifier:
    return TokenVerifier(public_key_pem=_public_pem(ec_key))


@pytest.fixture
def jwks_path(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: Any) -> Path:
    path = tmp_path / "jwks.json"
    _write_jwks(path, _jwk(rsa_key, "rsa-1"), _jwk(ec_key, "ec-1"))
    return path


@pytest.fixture
def jwks_verifier(jwks_path: Path) -> TokenVerifier:
    return TokenVerifier(jwks=JwksKeys(str(jwks_path), min_refresh_seconds=0))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingJwksKeys(JwksKeys):
    """JwksKeys that counts how often it reads its source."""

    def __init__(self, source: str, **kwargs: Any) -> None:
        self.reads = 0
        super().__init__(source, **kwargs)

    def _read(self) -> str:
        self.reads += 1
        return super()._read()


# --- RS256 and ES256 with a pinned PEM public key --------------------------------------------


def test_an_rs256_token_verifies_against_the_rsa_public_key(rsa_key, rsa_verifier):
    token = _sign(rsa_key, "RS256", sub="dana", app_id="app-x")

    assert accept(rsa_verifier, token) == Caller(
        tenant_id="tenant-a", subject="dana", app_id="app-x"
    )


def test_an_es256_token_verifies_against_the_ec_public_key(ec_key, ec_verifier):
    token = _sign(ec_key, "ES256")

    assert accept(ec_verifier, token) == Caller(tenant_id="tenant-a", subject="person-1")


def test_a_pem_verifier_accepts_only_the_algorithm_of_its_key(rsa_verifier, ec_verifier):
    assert rsa_verifier.algorithms == ["RS256"]
    assert ec_verifier.algorithms == ["ES256"]


def test_an_rs256_token_signed_by_another_key_has_a_bad_signature(other_rsa_key, rsa_verifier):
    token = _sign(other_rsa_key, "RS256")

    _rejected(rsa_verifier, token, "TOKEN_SIGNATURE", "signature")


def test_an_rs256_token_with_an_altered_payload_has_a_bad_signature(rsa_key, rsa_verifier):
    head, _, signature = _sign(rsa_key, "RS256").split(".")
    forged = _b64url(json.dumps(_claims(tenant_id="tenant-b")).encode())

    _rejected(rsa_verifier, f"{head}.{forged}.{signature}", "TOKEN_SIGNATURE", "signature")


def test_an_es256_token_is_refused_by_an_rsa_only_verifier(ec_key, rsa_verifier):
    token = _sign(ec_key, "ES256")

    _rejected(rsa_verifier, token, "TOKEN_ALGORITHM_REJECTED", "ES256", "RS256")


# --- JWKS: key selection by kid, rotation and rate-limited refresh ---------------------------


def test_jwks_rs256_and_es256_tokens_verify_against_the_key_their_kid_names(
    rsa_key, ec_key, jwks_verifier
):
    assert jwks_verifier.algorithms == ["ES256", "RS256"]
    assert accept(jwks_verifier, _sign(rsa_key, "RS256", "rsa-1", sub="r")).subject == "r"
    assert accept(jwks_verifier, _sign(ec_key, "ES256", "ec-1", sub="e")).subject == "e"


def test_the_kid_selects_which_of_two_rsa_keys_checks_the_signature(
    tmp_path, rsa_key, other_rsa_key
):
    path = tmp_path / "jwks.json"
    _write_jwks(path, _jwk(rsa_key, "first"), _jwk(other_rsa_key, "second"))
    verifier = TokenVerifier(jwks=JwksKeys(str(path), min_refresh_seconds=0))

    assert accept(verifier, _sign(rsa_key, "RS256", "first", sub="one")).subject == "one"
    assert accept(verifier, _sign(other_rsa_key, "RS256", "second", sub="two")).subject == "two"
    # Signed by the first key but naming the second: the second key checks it, and it fails.
    _rejected(verifier, _sign(rsa_key, "RS256", "second"), "TOKEN_SIGNATURE", "signature")
    _rejected(verifier, _sign(other_rsa_key, "RS256", "first"), "TOKEN_SIGNATURE", "signature")


def test_a_token_with_an_unpublished_kid_is_refused(rsa_key, jwks_verifier):
    message = _rejected(
        jwks_verifier, _sign(rsa_key, "RS256", "nobody-published-this"), "TOKEN_KEY_UNKNOWN"
    )

    assert "nobody-published-this" in message


def test_an_rs256_token_without_a_kid_is_refused_when_only_a_jwks_is_configured(
    rsa_key, jwks_verifier
):
    _rejected(jwks_verifier, _sign(rsa_key, "RS256"), "TOKEN_KEY_UNKNOWN", "kid")


def test_a_new_kid_is_picked_up_after_the_jwks_is_rewritten(tmp_path, rsa_key, other_rsa_key):
    path = tmp_path / "jwks.json"
    _write_jwks(path, _jwk(rsa_key, "2026-01"))
    clock = FakeClock()
    keys = CountingJwksKeys(str(path), min_refresh_seconds=10, clock=clock)
    verifier = TokenVerifier(jwks=keys)
    assert accept(verifier, _sign(rsa_key, "RS256", "2026-01")).tenant_id == "tenant-a"

    _write_jwks(path, _jwk(rsa_key, "2026-01"), _jwk(other_rsa_key, "2026-02"))
    clock.advance(10)

    caller = accept(verifier, _sign(other_rsa_key, "RS256", "2026-02", sub="rotated"))
    assert caller.subject == "rotated"
    assert keys.reads == 2
    # The key that was already published keeps working after the reload.
    assert accept(verifier, _sign(rsa_key, "RS256", "2026-01")).tenant_id == "tenant-a"
    assert keys.reads == 2, "a known kid must not reload the document"


def test_a_key_removed_from_the_jwks_stops_verifying_after_a_reload(
    tmp_path, rsa_key, other_rsa_key
):
    path = tmp_path / "jwks.json"
    _write_jwks(path, _jwk(rsa_key, "old"))
    verifier = TokenVerifier(jwks=JwksKeys(str(path), min_refresh_seconds=0))
    old_token = _sign(rsa_key, "RS256", "old")
    assert accept(verifier, old_token).tenant_id == "tenant-a"

    _write_jwks(path, _jwk(other_rsa_key, "new"))
    assert accept(verifier, _sign(other_rsa_key, "RS256", "new")).tenant_id == "tenant-a"

    _rejected(verifier, old_token, "TOKEN_KEY_UNKNOWN", "old")


def test_unknown_kids_reload_the_jwks_at_most_once_per_refresh_interval(
    tmp_path, rsa_key, other_rsa_key
):
    path = tmp_path / "jwks.json"
    _write_jwks(path, _jwk(rsa_key, "k1"))
    clock = FakeClock()
    keys = CountingJwksKeys(str(path), min_refresh_seconds=10, clock=clock)
    verifier = TokenVerifier(jwks=keys)
    assert keys.reads == 1

    clock.advance(10)
    _rejected(verifier, _sign(rsa_key, "RS256", "made-up-1"), "TOKEN_KEY_UNKNOWN")
    assert keys.reads == 2, "the first unknown kid after the interval reloads the document"

    # The key is published now, but within the interval a second unknown kid must not reload.
    _write_jwks(path, _jwk(rsa_key, "k1"), _jwk(other_rsa_key, "k2"))
    clock.advance(9.9)
    k2_token = _sign(other_rsa_key, "RS256", "k2")
    _rejected(verifier, _sign(rsa_key, "RS256", "made-up-2"), "TOKEN_KEY_UNKNOWN")
    _rejected(verifier, k2_token, "TOKEN_KEY_UNKNOWN")
    assert keys.reads == 2

    clock.advance(0.1)
    assert accept(verifier, k2_token).tenant_id == "tenant-a"
    assert keys.reads == 3


def test_a_flood_of_made_up_kids_reads_the_jwks_once(tmp_path, rsa_key):
    path = tmp_path / "jwks.json"
    _write_jwks(path, _jwk(rsa_key, "k1"))
    clock = FakeClock()
    keys = CountingJwksKeys(str(path), min_refresh_seconds=10, clock=clock)
    verifier = TokenVerifier(jwks=keys)
    clock.advance(60)

    for n in range(50):
        _rejected(verifier, _sign(rsa_key, "RS256", f"made-up-{n}"), "TOKEN_KEY_UNKNOWN")
        clock.advance(0.1)

    assert keys.reads == 2


@pytest.mark.parametrize(
    "document",
    [
        pytest.param('{"keys": [', id="truncated-json"),
        pytest.param("", id="empty-file"),
        pytest.param("{}", id="no-keys-member"),
        pytest.param('{"keys": "nope"}', id="keys-not-a-list"),
        pytest.param("[]", id="top-level-list"),
        pytest.param("null", id="top-level-null"),
    ],
)
def test_a_broken_jwks_on_reload_keeps_the_keys_already_loaded(tmp_path, rsa_key, document):
    path = tmp_path / "jwks.json"
    _write_jwks(path, _jwk(rsa_key, "k1"))
    verifier = TokenVerifier(jwks=JwksKeys(str(path), min_refresh_seconds=0))

    path.write_text(document)

    _rejected(verifier, _sign(rsa_key, "RS256", "k2"), "TOKEN_KEY_UNKNOWN", "k2")
    assert accept(verifier, _sign(rsa_key, "RS256", "k1")).tenant_id == "tenant-a"


def test_a_symmetric_oct_key_in_the_jwks_is_ignored(tmp_path, rsa_key):
    shared = b"a-shared-secret-someone-put-in-the-jwks-0123456789"
    oct_jwk = {"kty": "oct", "k": _b64url(shared), "kid": "shared", "alg": "HS256"}
    path = tmp_path / "jwks.json"
    _write_jwks(path, oct_jwk, _jwk(rsa_key, "rsa-1"))
    keys = JwksKeys(str(path), min_refresh_seconds=0)
    verifier = TokenVerifier(jwks=keys)

    assert keys.key_for("shared") is None
    assert "HS256" not in verifier.algorithms
    hs256 = jwt.encode(_claims(), shared, algorithm="HS256", headers={"kid": "shared"})
    _rejected(verifier, hs256, "TOKEN_ALGORITHM_REJECTED", "HS256")
    # Nor can an asymmetric algorithm reach the oct key through its kid.
    rs256 = _hand_built({"alg": "RS256", "kid": "shared"}, _claims(), b"x" * 256)
    _rejected(verifier, rs256, "TOKEN_KEY_UNKNOWN", "shared")


# --- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_an_unsigned_alg_none_token_is_refused(rsa_verifier, jwks_verifier, alg):
    for verifier in (rsa_verifier, jwks_verifier):
        unsigned = _hand_built({"alg": alg, "typ": "JWT"}, _claims())
        _rejected(verifier, unsigned, "TOKEN_ALGORITHM_REJECTED", repr(alg))
        with_kid = _hand_built({"alg": alg, "kid": "rsa-1"}, _claims())
        _rejected(verifier, with_kid, "TOKEN_ALGORITHM_REJECTED", repr(alg))


def test_alg_confusion_hs256_signed_with_the_rsa_public_pem_is_refused(rsa_key, rsa_verifier):
    pem = _public_pem(rsa_key).encode()
    token = _hs256_by_hand({"alg": "HS256", "typ": "JWT"}, _claims(), pem)

    _rejected(rsa_verifier, token, "TOKEN_ALGORITHM_REJECTED", "HS256", "RS256")


def test_alg_confusion_is_refused_even_when_hs256_is_also_configured(rsa_key):
    pem = _public_pem(rsa_key)
    verifier = TokenVerifier(hs256_secret=HS256_SECRET, public_key_pem=pem)
    assert verifier.algorithms == ["HS256", "RS256"]

    for secret in (pem.encode(), pem.strip().encode()):
        token = _hs256_by_hand({"alg": "HS256", "typ": "JWT"}, _claims(), secret)
        _rejected(verifier, token, "TOKEN_SIGNATURE", "signature")
    # The configured secret itself still works.
    assert accept(verifier, _sign(HS256_SECRET, "HS256")).tenant_id == "tenant-a"


def test_alg_confusion_through_a_jwks_kid_is_refused(rsa_key, jwks_path, jwks_verifier):
    jwk_json = json.dumps(_jwk(rsa_key, "rsa-1")).encode()
    for secret in (_public_pem(rsa_key).encode(), jwk_json, jwks_path.read_bytes()):
        token = _hs256_by_hand({"alg": "HS256", "kid": "rsa-1"}, _claims(), secret)
        _rejected(jwks_verifier, token, "TOKEN_ALGORITHM_REJECTED", "HS256")


def test_a_kid_naming_an_rsa_key_with_header_alg_es256_is_refused(ec_key, jwks_verifier):
    token = _sign(ec_key, "ES256", "rsa-1")

    message = _rejected(jwks_verifier, token, "TOKEN_ALGORITHM_REJECTED", "rsa-1")

    assert "RS256" in message and "ES256" in message


def test_a_kid_naming_an_ec_key_with_header_alg_rs256_is_refused(rsa_key, jwks_verifier):
    token = _sign(rsa_key, "RS256", "ec-1")

    message = _rejected(jwks_verifier, token, "TOKEN_ALGORITHM_REJECTED", "ec-1")

    assert "RS256" in message and "ES256" in message


@pytest.mark.parametrize(
    ("overrides", "claim"),
    [
        pytest.param({"tenant_id": _DROP}, "tenant_id", id="no-tenant-id"),
        pytest.param({"tenant_id": ""}, "tenant_id", id="empty-tenant-id"),
        pytest.param({"tenant_id": " \t "}, "tenant_id", id="blank-tenant-id"),
        pytest.param({"tenant_id": None}, "tenant_id", id="null-tenant-id"),
        pytest.param({"tenant_id": 7}, "tenant_id", id="numeric-tenant-id"),
        pytest.param({"tenant_id": True}, "tenant_id", id="boolean-tenant-id"),
        pytest.param({"tenant_id": ["tenant-a"]}, "tenant_id", id="list-tenant-id"),
        pytest.param({"tenant_id": {"id": "tenant-a"}}, "tenant_id", id="object-tenant-id"),
        pytest.param({"sub": _DROP}, "sub", id="no-sub"),
        pytest.param({"sub": ""}, "sub", id="empty-sub"),
        pytest.param({"sub": "   "}, "sub", id="blank-sub"),
        pytest.param({"app_id": ""}, "app_id", id="empty-app-id"),
        pytest.param({"app_id": 3}, "app_id", id="numeric-app-id"),
    ],
)
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_missing_or_non_string_identity_claim_is_refused(
    rsa_key, ec_key, rsa_verifier, ec_verifier, algorithm, overrides, claim
):
    key, verifier = (rsa_key, rsa_verifier) if algorithm == "RS256" else (ec_key, ec_verifier)
    token = _sign(key, algorithm, **overrides)

    message = _rejected(verifier, token, "TOKEN_CLAIM_INVALID", "non-empty string")

    assert repr(claim) in message


@pytest.mark.parametrize("sub", [None, 42, ["person-1"], {"id": "person-1"}])
def test_a_non_string_sub_is_refused_with_a_message_naming_the_subject(rsa_key, rsa_verifier, sub):
    token = _sign(rsa_key, "RS256", sub=sub)

    with pytest.raises(Unauthenticated) as caught:
        accept(rsa_verifier, token)

    assert "sub" in caught.value.message.lower()
    assert token not in caught.value.message


def test_a_non_string_sub_has_the_same_reason_as_a_non_string_tenant_id(rsa_key, rsa_verifier):
    # A client tells claim problems apart by ErrorInfo.reason; sub and tenant_id must agree.
    reasons = {}
    for name in ("tenant_id", "sub"):
        with pytest.raises(Unauthenticated) as caught:
            accept(rsa_verifier, _sign(rsa_key, "RS256", **{name: 42}))
        reasons[name] = (caught.value.reason, caught.value.message)

    assert reasons["sub"][0] == reasons["tenant_id"][0] == "TOKEN_CLAIM_INVALID", reasons


def test_a_token_over_the_size_limit_is_refused_before_it_is_parsed(
    rsa_key, rsa_verifier, monkeypatch
):
    token = _sign(rsa_key, "RS256", padding="p" * MAX_TOKEN_BYTES)
    assert len(token) > MAX_TOKEN_BYTES
    with monkeypatch.context() as patched:  # validly signed: only its size is wrong
        patched.setattr("cohorts.api.auth.MAX_TOKEN_BYTES", 10 * MAX_TOKEN_BYTES)
        assert accept(rsa_verifier, token).tenant_id == "tenant-a"

    _rejected(rsa_verifier, token, "TOKEN_TOO_LARGE", str(MAX_TOKEN_BYTES))
    _rejected(rsa_verifier, "x" * (MAX_TOKEN_BYTES + 1), "TOKEN_TOO_LARGE", str(MAX_TOKEN_BYTES))


def test_a_token_at_the_size_limit_is_accepted_and_one_byte_more_is_not(rsa_key, rsa_verifier):
    def token_with_padding(n: int) -> str:
        return _sign(rsa_key, "RS256", padding="p" * n)

    base = len(token_with_padding(0))
    n = (MAX_TOKEN_BYTES - base) * 3 // 4
    while len(token_with_padding(n + 1)) <= MAX_TOKEN_BYTES:
        n += 1
    while len(token_with_padding(n)) > MAX_TOKEN_BYTES:
        n -= 1
    largest = token_with_padding(n)
    smallest_too_large = token_with_padding(n + 1)
    assert len(largest) <= MAX_TOKEN_BYTES < len(smallest_too_large)

    assert accept(rsa_verifier, largest).tenant_id == "tenant-a"
    _rejected(rsa_verifier, smallest_too_large, "TOKEN_TOO_LARGE")


def test_nbf_in_the_future_beyond_the_leeway_is_refused(rsa_key):
    verifier = TokenVerifier(public_key_pem=_public_pem(rsa_key), leeway_seconds=30)
    now = int(time.time())

    _rejected(verifier, _sign(rsa_key, "RS256", nbf=now + 3600), "TOKEN_NOT_YET_VALID", "nbf")
    _rejected(verifier, _sign(rsa_key, "RS256", nbf=now + 60), "TOKEN_NOT_YET_VALID", "nbf")
    assert accept(verifier, _sign(rsa_key, "RS256", nbf=now + 10)).tenant_id == "tenant-a"


def test_iat_in_the_future_is_refused_with_a_message_that_names_iat(rsa_key, rsa_verifier):
    # No nbf claim at all: the message must not blame one.
    token = _sign(rsa_key, "RS256", iat=int(time.time()) + 3600)

    message = _rejected(rsa_verifier, token, "TOKEN_NOT_YET_VALID", "iat")

    assert "nbf" not in message, f"the token has no nbf, yet the message says {message!r}"


def test_an_expired_token_is_refused(rsa_key, rsa_verifier):
    now = int(time.time())
    token = _sign(rsa_key, "RS256", iat=now - 7200, exp=now - 3600)

    _rejected(rsa_verifier, token, "TOKEN_EXPIRED", "expired")


def test_a_token_just_past_exp_within_the_leeway_is_accepted(rsa_key, rsa_verifier):
    now = int(time.time())

    assert accept(rsa_verifier, _sign(rsa_key, "RS256", exp=now - 5)).tenant_id == "tenant-a"
    _rejected(rsa_verifier, _sign(rsa_key, "RS256", exp=now - 90), "TOKEN_EXPIRED", "expired")


def test_a_token_without_exp_is_refused(rsa_key, ec_key, rsa_verifier, jwks_verifier):
    _rejected(rsa_verifier, _sign(rsa_key, "RS256", exp=_DROP), "TOKEN_CLAIM_MISSING", "'exp'")
    _rejected(
        jwks_verifier, _sign(ec_key, "ES256", "ec-1", exp=_DROP), "TOKEN_CLAIM_MISSING", "'exp'"
    )


@pytest.fixture(scope="module")
def strict_verifier(rsa_key: rsa.RSAPrivateKey) -> TokenVerifier:
    return TokenVerifier(public_key_pem=_public_pem(rsa_key), issuer=ISSUER, audience=AUDIENCE)


def test_the_configured_issuer_and_audience_are_accepted(rsa_key, strict_verifier):
    assert accept(strict_verifier, _sign(rsa_key, "RS256", iss=ISSUER, aud=AUDIENCE))
    assert accept(strict_verifier, _sign(rsa_key, "RS256", iss=ISSUER, aud=["other", AUDIENCE]))


@pytest.mark.parametrize(
    ("overrides", "reason", "words"),
    [
        pytest.param(
            {"iss": "https://evil.example.test/", "aud": AUDIENCE},
            "TOKEN_ISSUER",
            ("issuer",),
            id="wrong-iss",
        ),
        pytest.param(
            {"iss": ISSUER.rstrip("/"), "aud": AUDIENCE},
            "TOKEN_ISSUER",
            ("issuer",),
            id="iss-without-trailing-slash",
        ),
        pytest.param(
            {"iss": ISSUER, "aud": "some-other-api"},
            "TOKEN_AUDIENCE",
            ("audience",),
            id="wrong-aud",
        ),
        pytest.param(
            {"iss": ISSUER, "aud": ["a", "b"]},
            "TOKEN_AUDIENCE",
            ("audience",),
            id="aud-list-without-ours",
        ),
        pytest.param({"aud": AUDIENCE}, "TOKEN_CLAIM_MISSING", ("'iss'",), id="missing-iss"),
        pytest.param({"iss": ISSUER}, "TOKEN_CLAIM_MISSING", ("'aud'",), id="missing-aud"),
    ],
)
def test_a_wrong_or_missing_issuer_or_audience_is_refused_when_configured(
    rsa_key, strict_verifier, overrides, reason, words
):
    _rejected(strict_verifier, _sign(rsa_key, "RS256", **overrides), reason, *words)


def test_iss_is_not_checked_when_not_configured(rsa_key, rsa_verifier):
    token = _sign(rsa_key, "RS256", iss="anyone")

    assert accept(rsa_verifier, token).tenant_id == "tenant-a"


@pytest.mark.parametrize("audience", ["another-service", ["another-service", "a-third"]])
def test_a_token_for_another_audience_is_refused_when_none_is_configured(
    rsa_key, rsa_verifier, audience
):
    # RFC 7519 §4.1.3: a token minted for a sibling service sharing the key must not get in.
    token = _sign(rsa_key, "RS256", aud=audience)

    _rejected(rsa_verifier, token, "TOKEN_AUDIENCE", "COHORTS_JWT_AUDIENCE")


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", "4102444800"),  # a string, not a JSON number
        ("nbf", "0"),
        ("iat", "0"),
        ("exp", 10**400),  # too large for a float
        ("exp", -(10**400)),
        ("iat", 10**400),
        ("exp", True),
        ("exp", [4102444800]),
        ("exp", {"at": 4102444800}),
        ("nbf", 2**60),
    ],
    ids=lambda value: repr(value)[:24],
)
def test_a_time_claim_that_is_not_a_plain_number_is_unauthenticated_with_a_reason(
    rsa_key, rsa_verifier, claim, value
):
    token = _sign(rsa_key, "RS256", **{claim: value})

    _rejected(rsa_verifier, token, "TOKEN_CLAIM_INVALID", claim)


def test_float_time_claims_are_numbers_too(rsa_key, rsa_verifier):
    now = time.time()
    token = _sign(rsa_key, "RS256", iat=now - 1.5, nbf=now - 0.25, exp=now + 60.75)

    assert accept(rsa_verifier, token).tenant_id == "tenant-a"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: "", id="empty"),
        pytest.param(lambda: "not-a-jwt", id="one-segment"),
        pytest.param(lambda: "a.b.c", id="garbage-segments"),
        pytest.param(lambda: "!!!!.eyJ9.sig", id="non-base64-header"),
        pytest.param(lambda: _b64url(b"[1, 2]") + ".e30.", id="header-not-an-object"),
    ],
)
def test_a_malformed_token_is_refused_as_not_a_jwt(rsa_verifier, make_token):
    _rejected(rsa_verifier, make_token(), "INVALID_TOKEN", "well-formed")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "RS256", "kid": 123}, id="numeric-kid"),
        pytest.param({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}, id="unsupported-crit"),
    ],
)
def test_a_malformed_header_is_unauthenticated_not_an_unexpected_exception(
    rsa_verifier, jwks_verifier, header
):
    token = _hand_built(header, _claims(), b"x" * 256)

    for verifier in (rsa_verifier, jwks_verifier):
        try:
            accept(verifier, token)
        except Unauthenticated as error:
            assert token not in error.message
        except Exception as error:  # noqa: BLE001 - the point is which exception escapes
            pytest.fail(
                f"verify let {type(error).__name__}({error}) escape instead of Unauthenticated"
            )
        else:
            pytest.fail("a token with a malformed header was accepted")


def test_an_over_long_kid_is_refused(rsa_key, jwks_verifier):
    token = _sign(rsa_key, "RS256", "k" * 300)

    _rejected(jwks_verifier, token, "TOKEN_KEY", "kid")


def test_a_non_string_alg_is_refused(rsa_verifier):
    token = _hand_built({"alg": ["RS256"]}, _claims(), b"x" * 256)

    _rejected(rsa_verifier, token, "TOKEN_ALGORITHM_REJECTED", "RS256")


def test_a_verifier_needs_some_key():
    with pytest.raises(ValueError, match="no usable JWT key"):
        TokenVerifier()
    with pytest.raises(ValueError, match="no usable JWT key"):
        TokenVerifier(public_key_pem="-----BEGIN PUBLIC KEY-----\nnot a key\n")


def test_rejections_name_what_is_wrong_without_the_token(rsa_key, jwks_verifier):
    """Every refusal of one token family has its own reason: they are told apart precisely."""
    now = int(time.time())
    tokens: dict[str, str] = {
        "TOKEN_ALGORITHM_REJECTED": _hand_built({"alg": "none"}, _claims()),
        "TOKEN_KEY_UNKNOWN": _sign(rsa_key, "RS256", "unknown"),
        "TOKEN_SIGNATURE": _sign(_ec_key(), "ES256", "ec-1"),
        "TOKEN_EXPIRED": _sign(rsa_key, "RS256", "rsa-1", exp=now - 3600),
        "TOKEN_NOT_YET_VALID": _sign(rsa_key, "RS256", "rsa-1", nbf=now + 3600),
        "TOKEN_CLAIM_MISSING": _sign(rsa_key, "RS256", "rsa-1", exp=_DROP),
        "TOKEN_CLAIM_INVALID": _sign(rsa_key, "RS256", "rsa-1", tenant_id=1),
        "TOKEN_TOO_LARGE": "e" * (MAX_TOKEN_BYTES + 1),
    }
    for reason, token in tokens.items():
        _rejected(jwks_verifier, token, reason)
