"""Verification keys from a JWKS document, picked by `kid`, kept fresh without blocking calls.

The document is read once at start (before serving), then again in a thread, never on
the event loop: on a schedule (`max_age_seconds`, or sooner when the document's
`Cache-Control: max-age` says so), and when a token names a kid not loaded yet, at most
once per `min_refresh_seconds` however many such tokens arrive (concurrent callers
share one fetch). Each load replaces the key set, so a key the publisher withdraws stops
verifying at the next load.

PyJWT's PyJWKClient is not used for the fetch: it fetches on the calling thread and
ignores the document's cache headers. PyJWKSet parses the document.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

_log = logging.getLogger(__name__)

# Asymmetric algorithms only: a symmetric ("oct") key published in a JWKS
# would let anyone who can read the document mint tokens.
JWKS_ALGORITHMS = frozenset({"RS256", "ES256"})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-cache|no-store)\b", re.IGNORECASE)


class JwksKeys:
    """Keys of a JWKS file or http(s) URL, by kid."""

    def __init__(
        self,
        source: str,
        *,
        min_refresh_seconds: float = 10.0,
        max_age_seconds: float = 300.0,
        fetch_timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._min_refresh_seconds = min_refresh_seconds
        self._max_age_seconds = max(max_age_seconds, min_refresh_seconds)
        self._fetch_timeout_seconds = fetch_timeout_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._attempted_at: float | None = None
        self._document_max_age: float | None = None
        self._loading: asyncio.Future[None] | None = None
        self.loads = 0  # documents fetched, for tests and logs
        self.load()

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The key published under kid in the document loaded last."""
        return self._keys.get(kid)

    def published(self, kid: str) -> bool:
        """Whether kid is among the keys loaded last."""
        return kid in self._keys

    def may_refresh(self) -> bool:
        """Whether an unknown kid may trigger a load now (the cooldown has passed)."""
        return self._attempted_at is None or (
            self._clock() - self._attempted_at >= self._min_refresh_seconds
        )

    async def refresh(self, *, scheduled: bool = False) -> None:
        """Load the document in a thread; callers arriving meanwhile share that load.

        Unless scheduled, nothing is fetched within the cooldown of the last attempt.
        """
        loading = self._loading
        if loading is None or loading.done():
            if not scheduled and not self.may_refresh():
                return
            self._attempted_at = self._clock()
            loading = self._loading = asyncio.ensure_future(asyncio.to_thread(self.load))
        # Shielded: a caller whose call is cancelled must not cancel the others' load.
        await asyncio.shield(loading)

    def next_refresh_in(self) -> float:
        """Seconds until the scheduled load: the document's max-age, within our bounds."""
        wanted = self._max_age_seconds
        if self._document_max_age is not None:
            wanted = min(wanted, self._document_max_age)
        return max(wanted, self._min_refresh_seconds, 0.05)

    async def keep_fresh(self) -> None:
        """Reload on the schedule until cancelled (one task per server process)."""
        while True:
            await asyncio.sleep(self.next_refresh_in())
            try:
                await self.refresh(scheduled=True)
            except Exception:  # load() logs what it expects; this is anything else
                _log.exception("reading the JWKS from %s failed", self._source)

    def load(self) -> None:
        """Fetch and parse the document now (blocking); keep the old keys if it is broken."""
        self._attempted_at = self._clock()
        try:
            text, cache_control = self._read()
            document = json.loads(text)
            if not isinstance(document, dict):
                raise ValueError("a JWKS document must be a JSON object with `keys`")
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (OSError, ValueError, TypeError, jwt.PyJWTError) as error:
            _log.warning("could not load JWKS from %s: %s", self._source, error)
            return
        self.loads += 1
        self._document_max_age = _max_age(cache_control)
        self._keys = {
            key.key_id: key for key in keys if key.key_id and key.algorithm_name in JWKS_ALGORITHMS
        }
        _log.info("loaded %d JWKS keys from %s", len(self._keys), self._source)

    def _read(self) -> tuple[str, str | None]:
        """The document's text and its Cache-Control header (None for a file)."""
        if self._source.startswith(("https://", "http://")):
            with urllib.request.urlopen(  # noqa: S310 - the operator's configured URL
                self._source, timeout=self._fetch_timeout_seconds
            ) as response:
                body: Any = response.read()
                return str(body.decode()), response.headers.get("Cache-Control")
        return Path(self._source).read_text(), None


def _max_age(cache_control: str | None) -> float | None:
    """Seconds a response may be cached, from its Cache-Control header (0 for no-cache)."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None
