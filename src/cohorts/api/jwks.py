"""Verification keys from a JWKS document, picked by `kid`, refreshed when a new kid appears."""

from __future__ import annotations

import json
import logging
import threading
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


class JwksKeys:
    """Keys of a JWKS file or http(s) URL, cached by kid.

    An unknown kid triggers a reload (key rotation without a restart), at most
    once per min_refresh_seconds so that tokens with made-up kids cannot make
    the service hammer the key server.
    """

    def __init__(
        self,
        source: str,
        *,
        min_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._min_refresh_seconds = min_refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at: float | None = None
        self._refresh()

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The key published under kid, reloading the document once if it is new."""
        key = self._keys.get(kid)
        if key is None and self._may_refresh():
            # Blocking, but rare: at most once per min_refresh_seconds.
            self._refresh()
            key = self._keys.get(kid)
        return key

    def published(self, kid: str) -> bool:
        """Whether kid is among the keys loaded last (no reload)."""
        return kid in self._keys

    def _may_refresh(self) -> bool:
        return self._loaded_at is None or (
            self._clock() - self._loaded_at >= self._min_refresh_seconds
        )

    def _refresh(self) -> None:
        with self._lock:
            if self._loaded_at is not None and not self._may_refresh():
                return  # another thread reloaded while this one waited
            self._loaded_at = self._clock()
            try:
                document = json.loads(self._read())
                if not isinstance(document, dict):
                    raise ValueError("a JWKS document must be a JSON object with `keys`")
                keys = jwt.PyJWKSet.from_dict(document).keys
            except (OSError, ValueError, TypeError, jwt.PyJWTError) as error:
                _log.warning("could not load JWKS from %s: %s", self._source, error)
                return
            self._keys = {
                key.key_id: key
                for key in keys
                if key.key_id and key.algorithm_name in JWKS_ALGORITHMS
            }
            _log.info("loaded %d JWKS keys from %s", len(self._keys), self._source)

    def _read(self) -> str:
        if self._source.startswith(("https://", "http://")):
            with urllib.request.urlopen(self._source, timeout=5) as response:  # noqa: S310
                body: Any = response.read()
                return str(body.decode())
        return Path(self._source).read_text()
