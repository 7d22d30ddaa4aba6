"""Bearer-token authentication: a verifier for JWTs and the interceptor that applies it."""

from __future__ import annotations

import contextvars
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import grpc
import jwt

from cohorts.api.errors import abort_with, status_for
from cohorts.api.interception import Behaviour, UnaryInterceptor
from cohorts.api.jwks import JWKS_ALGORITHMS, JwksKeys
from cohorts.api.request_context import current_record
from cohorts.domain.caller import Caller
from cohorts.domain.errors import Unauthenticated
from cohorts.metrics import AUTH_FAILURES

AUTHORIZATION_HEADER = "authorization"
BEARER_PREFIX = "bearer "
PROTECTED_SERVICE_PREFIX = "/learning.v1.CohortService/"
MAX_TOKEN_BYTES = 8 * 1024
VERIFIED_TOKEN_CACHE_SIZE = 4096
VERIFIED_TOKEN_TTL_SECONDS = 60.0

_log = logging.getLogger(__name__)

_caller: contextvars.ContextVar[Caller] = contextvars.ContextVar("cohorts_caller")
# Time claims are JSON numbers (RFC 7519 §2, NumericDate) within what a float holds exactly.
_MAX_NUMERIC_DATE = 2**53


class KeyNotLoaded(Unauthenticated):
    """A token names a kid the loaded JWKS lacks, and the document may be read again now."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"no published key has kid {kid!r}", reason="TOKEN_KEY_UNKNOWN")
        self.kid = kid


def current_caller() -> Caller:
    """The verified caller of the RPC being served (set by AuthInterceptor)."""
    return _caller.get()


class TokenVerifier:
    """Verifies a JWT against pinned algorithms and returns the caller it names."""

    def __init__(
        self,
        *,
        hs256_secret: str | None = None,
        public_key_pem: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: int = 30,
        jwks: JwksKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks
        self._keys: dict[str, Any] = {}
        if hs256_secret is not None:
            self._keys["HS256"] = hs256_secret
        if public_key_pem is not None:
            # Each algorithm is pinned to its own key, so an HS256 token "signed"
            # with the public key is never checked against it (alg confusion).
            for algorithm in ("RS256", "ES256"):
                try:
                    self._keys[algorithm] = jwt.get_algorithm_by_name(algorithm).prepare_key(
                        public_key_pem
                    )
                except (ValueError, TypeError, jwt.InvalidKeyError):
                    continue
        if not self._keys and jwks is None:
            raise ValueError("no usable JWT key: set a secret, a public key or a JWKS")
        self._clock = clock
        self._verified: dict[str, tuple[Caller, float, str | None]] = {}
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        required = ["exp"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
        # Time claims are checked here (_check_times), where their JSON type is checked too:
        # PyJWT takes "exp": "123" and fails on an integer too large for a float. The
        # audience is always checked: with none configured a token naming one is refused
        # (RFC 7519 §4.1.3), since it was minted for another service.
        self._options: dict[str, Any] = {
            "require": required,
            "verify_aud": True,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }

    @property
    def jwks(self) -> JwksKeys | None:
        """The JWKS keys, when the verifier uses a JWKS."""
        return self._jwks

    @property
    def algorithms(self) -> list[str]:
        """The algorithms a token may be signed with."""
        return sorted(set(self._keys) | (JWKS_ALGORITHMS if self._jwks else set()))

    def _key_for(self, header: dict[str, Any]) -> tuple[str, Any]:
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise Unauthenticated(
                f"token algorithm {algorithm!r} is not accepted; "
                f"accepted: {', '.join(self.algorithms)}",
                reason="TOKEN_ALGORITHM_REJECTED",
            )
        if self._jwks is not None and algorithm in JWKS_ALGORITHMS and kid is not None:
            if not isinstance(kid, str) or len(kid) > 256:
                raise Unauthenticated("token kid must be a short string", reason="TOKEN_KEY")
            jwk = self._jwks.key_for(kid)
            if jwk is None:
                if self._jwks.may_refresh():
                    raise KeyNotLoaded(kid)
                raise Unauthenticated(
                    f"no published key has kid {kid!r}", reason="TOKEN_KEY_UNKNOWN"
                )
            if jwk.algorithm_name != algorithm:
                raise Unauthenticated(
                    f"key {kid!r} is for {jwk.algorithm_name}, not {algorithm}",
                    reason="TOKEN_ALGORITHM_REJECTED",
                )
            return algorithm, jwk.key
        key = self._keys.get(algorithm)
        if key is None:
            raise Unauthenticated(
                f"{algorithm} tokens must name a published key with `kid`",
                reason="TOKEN_KEY_UNKNOWN",
            )
        return algorithm, key

    def verify(self, token: str) -> Caller:
        """The caller a valid token names; Unauthenticated saying what is wrong otherwise.

        Services send the same token on call after call, so a verified token is
        remembered (keyed by its exact text) until it expires, or for
        VERIFIED_TOKEN_TTL_SECONDS at most so that a withdrawn key stops
        working soon; everything else is checked again.
        """
        if len(token.encode()) > MAX_TOKEN_BYTES:
            raise Unauthenticated(
                f"bearer token is larger than {MAX_TOKEN_BYTES} bytes", reason="TOKEN_TOO_LARGE"
            )
        now = self._clock()
        remembered = self._verified.get(token)
        if remembered is not None:
            caller, valid_until, kid = remembered
            if now < valid_until and (kid is None or self._jwks_still_has(kid)):
                return caller
            del self._verified[token]
        caller, expires_at, kid = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKEN_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # oldest first (dict order)
        self._verified[token] = (
            caller,
            min(expires_at + self._leeway, now + VERIFIED_TOKEN_TTL_SECONDS),
            kid,
        )
        return caller

    async def verify_refreshing(self, token: str) -> Caller:
        """verify(), reading the JWKS again first (off the event loop) if the kid is new."""
        try:
            return self.verify(token)
        except KeyNotLoaded:
            assert self._jwks is not None
            try:
                await self._jwks.refresh()
            except Exception:  # the keys loaded before stay; the kid is then unknown
                _log.exception("reading the JWKS again failed")
        try:
            return self.verify(token)
        except KeyNotLoaded as still:
            raise Unauthenticated(still.message, reason=still.reason) from None

    def _jwks_still_has(self, kid: str) -> bool:
        return self._jwks is not None and self._jwks.published(kid)

    def _verify(self, token: str) -> tuple[Caller, float, str | None]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"bearer token is not a well-formed JWT: {error}") from None
        algorithm, key = self._key_for(header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=self._options,  # type: ignore[arg-type]
            )
        except jwt.exceptions.InvalidSubjectError:
            raise Unauthenticated(
                "token claim 'sub' must be a non-empty string", reason="TOKEN_CLAIM_INVALID"
            ) from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(
                f"token lacks the required claim {error.claim!r}", reason="TOKEN_CLAIM_MISSING"
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token issuer is not accepted", reason="TOKEN_ISSUER") from None
        except jwt.InvalidAudienceError:
            accepted = (
                f"only {self._audience!r} is accepted"
                if self._audience
                else "this service accepts tokens without `aud` only (set COHORTS_JWT_AUDIENCE)"
            )
            raise Unauthenticated(
                f"token audience is not accepted: {accepted}", reason="TOKEN_AUDIENCE"
            ) from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated(
                "token signature does not verify", reason="TOKEN_SIGNATURE"
            ) from None
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError) as error:
            raise Unauthenticated(f"token is invalid: {error}") from None
        expires_at = self._check_times(claims)
        kid = header.get("kid") if algorithm in JWKS_ALGORITHMS and self._jwks else None
        return _caller_from(claims), expires_at, kid

    def _check_times(self, claims: dict[str, Any]) -> float:
        """exp, and nbf and iat when present, as JSON numbers around now; returns exp."""
        times: dict[str, float] = {}
        for name in ("exp", "nbf", "iat"):
            if name not in claims:
                continue
            value = claims[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or abs(value) > _MAX_NUMERIC_DATE  # before isfinite: 10**400 fits no float
                or not math.isfinite(value)
            ):
                raise Unauthenticated(
                    f"token claim {name!r} must be a number of seconds since the epoch",
                    reason="TOKEN_CLAIM_INVALID",
                )
            times[name] = float(value)
        now = self._clock()
        if times["exp"] <= now - self._leeway:
            raise Unauthenticated("token has expired", reason="TOKEN_EXPIRED")
        early = [name for name in ("nbf", "iat") if times.get(name, now) > now + self._leeway]
        if early:
            raise Unauthenticated(
                f"token is not valid yet ({' and '.join(early)} in the future)",
                reason="TOKEN_NOT_YET_VALID",
            )
        return times["exp"]


MAX_CLAIM_CHARS = 256


def _claim_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_CLAIM_CHARS:
        return f"must be at most {MAX_CLAIM_CHARS} characters"
    if "\x00" in value or not value.isprintable():
        return "must not contain control characters"
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate from a JSON \ud800 escape
        return "must be valid Unicode"
    return None


def _caller_from(claims: dict[str, Any]) -> Caller:
    tenant_id, subject, app_id = claims.get("tenant_id"), claims.get("sub"), claims.get("app_id")
    for name, value in (("tenant_id", tenant_id), ("sub", subject), ("app_id", app_id)):
        if name == "app_id" and value is None:
            continue
        problem = _claim_problem(value)
        if problem:
            when = " when present" if name == "app_id" else ""
            raise Unauthenticated(
                f"token claim {name!r} {problem}{when}", reason="TOKEN_CLAIM_INVALID"
            )
    assert isinstance(tenant_id, str) and isinstance(subject, str)
    return Caller(tenant_id=tenant_id, subject=subject, app_id=app_id)


def bearer_token(metadata: Any) -> str:
    """The token of the `authorization: Bearer …` header, or Unauthenticated."""
    for key, value in metadata or ():
        if key == AUTHORIZATION_HEADER:
            if isinstance(value, str) and value[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
                token = value[len(BEARER_PREFIX) :].strip()
                if token:
                    return token
            raise Unauthenticated(
                "authorization metadata must be `Bearer <JWT>`", reason="TOKEN_MISSING"
            )
    raise Unauthenticated("missing `authorization: Bearer <JWT>` metadata", reason="TOKEN_MISSING")


def _rejecting(error: Unauthenticated) -> Behaviour:
    status = status_for(error)

    async def reject(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await abort_with(context, status)

    return reject


def _with_caller(behaviour: Behaviour, caller: Caller) -> Behaviour:
    async def behaviour_as_caller(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        record = current_record()
        if record is not None:
            record.tenant_id, record.app_id = caller.tenant_id, caller.app_id
        reset = _caller.set(caller)
        try:
            return await behaviour(request, context)
        finally:
            _caller.reset(reset)

    return behaviour_as_caller


class AuthInterceptor(UnaryInterceptor):
    """Authenticates every CohortService call; reflection and health stay open."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        protected_prefixes: tuple[str, ...] = (PROTECTED_SERVICE_PREFIX,),
    ) -> None:
        self._verifier = verifier
        self._protected = protected_prefixes

    def wrap(self, details: grpc.HandlerCallDetails, behaviour: Behaviour) -> Behaviour:
        if not details.method.startswith(self._protected):
            return behaviour
        try:
            token = bearer_token(details.invocation_metadata)
            caller = self._verifier.verify(token)
        except KeyNotLoaded:
            return self._after_jwks_refresh(details.method, token, behaviour)
        except Unauthenticated as error:
            return _rejecting(_counted(details.method, error))
        return _with_caller(behaviour, caller)

    def _after_jwks_refresh(self, method: str, token: str, behaviour: Behaviour) -> Behaviour:
        """Verify once the JWKS has been read again: the call waits, the event loop does not."""

        async def verify_then_behave(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            try:
                caller = await self._verifier.verify_refreshing(token)
            except Unauthenticated as error:
                await abort_with(context, status_for(_counted(method, error)))
            return await _with_caller(behaviour, caller)(request, context)

        return verify_then_behave


def _counted(method: str, error: Unauthenticated) -> Unauthenticated:
    AUTH_FAILURES.labels(error.reason).inc()
    _log.info("rejected call to %s: %s (%s)", method, error.message, error.reason)
    return error
