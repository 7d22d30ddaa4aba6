"""TokenVerifier remembers verified tokens, but never past their expiry or a minute."""

from __future__ import annotations

import time

import jwt
import pytest

from cohorts.api.auth import VERIFIED_TOKEN_CACHE_SIZE, TokenVerifier
from cohorts.domain.caller import Caller
from cohorts.domain.errors import Unauthenticated

SECRET = "a-secret-that-is-long-enough-for-hs256-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class CountingVerifier(TokenVerifier):
    """Counts full verifications (signature, claims), i.e. cache misses."""

    full_verifications = 0

    def _verify(self, token: str) -> tuple[Caller, float, str | None]:
        self.full_verifications += 1
        return super()._verify(token)


def _token(*, lifetime: int = 300, sub: str = "s") -> str:
    now = int(time.time())
    return jwt.encode(
        {"tenant_id": "t", "sub": sub, "iat": now, "exp": now + lifetime}, SECRET, "HS256"
    )


def _verifier(clock: Clock) -> CountingVerifier:
    return CountingVerifier(hs256_secret=SECRET, leeway_seconds=0, clock=clock)


def test_a_token_seen_again_is_not_verified_again() -> None:
    verifier = _verifier(Clock())
    token = _token()

    assert verifier.verify(token) == verifier.verify(token) == Caller("t", "s")
    assert verifier.full_verifications == 1


def test_a_remembered_token_is_verified_again_after_a_minute() -> None:
    clock = Clock()
    verifier = _verifier(clock)
    token = _token()
    verifier.verify(token)

    clock.now += 61
    verifier.verify(token)

    assert verifier.full_verifications == 2


def test_a_remembered_token_is_verified_again_once_it_expires() -> None:
    clock = Clock()
    verifier = _verifier(clock)
    token = _token(lifetime=5)
    verifier.verify(token)

    clock.now += 6  # past exp by the verifier's clock, within its minute
    with pytest.raises(Unauthenticated) as expired:
        verifier.verify(token)

    assert expired.value.reason == "TOKEN_EXPIRED"
    assert verifier.full_verifications == 2


def test_the_cache_never_grows_past_its_bound() -> None:
    # Minting thousands of tokens takes a while: the verifier's clock keeps up with it.
    verifier = CountingVerifier(hs256_secret=SECRET, leeway_seconds=0, clock=time.time)
    for index in range(VERIFIED_TOKEN_CACHE_SIZE + 50):
        verifier.verify(_token(sub=f"s{index}"))

    assert len(verifier._verified) == VERIFIED_TOKEN_CACHE_SIZE  # noqa: SLF001
