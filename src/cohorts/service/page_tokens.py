"""Opaque, tamper-evident page tokens that remember where a page ended (AIP-158)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cohorts.domain.caller import Caller
from cohorts.domain.errors import FieldViolation, InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAC_BYTES = 16
# Above the longest token encode() can make: every orderable key at its longest, the
# name of control characters JSON escapes six-fold (test_page_tokens checks the bound).
MAX_TOKEN_CHARS = 4096


def _invalid(description: str) -> InvalidArgument:
    return InvalidArgument(
        [FieldViolation("page_token", description)],
        message=f"invalid page_token: {description}",
        reason="INVALID_PAGE_TOKEN",
    )


class PageTokenCodec:
    """Signs list positions together with the query they belong to.

    The token binds the tenant, the app, the filter, the order and
    show_deleted, so a token replayed under any other of these is rejected
    rather than silently paging a different result.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, position: Sequence[Any], *, query: str) -> str:
        """A token for the page after the row whose sort-key values are position."""
        values = [_to_json(value) for value in position]
        # UTF-8, not \u escapes: a non-ASCII name costs 2-4 bytes a character, not 6-12.
        body = json.dumps([values, query], separators=(",", ":"), ensure_ascii=False).encode()
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")

    def decode(self, token: str, *, query: str) -> list[Any]:
        """The position a token carries; InvalidArgument unless it is intact and for query."""
        if len(token) > MAX_TOKEN_CHARS:
            raise _invalid("is too long to be a token this service issued")
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        except ValueError:
            raise _invalid("is not a token this service issued") from None
        mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        expected = hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise _invalid("is not a token this service issued, or it was altered")
        values, token_query = json.loads(body)
        if token_query != query:
            raise _invalid(
                "was issued for a different filter, order_by, show_deleted or caller; "
                "start again without a page_token"
            )
        return [_from_json(value) for value in values]


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": (value - _EPOCH) // timedelta(microseconds=1)}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return _EPOCH + timedelta(microseconds=value["t"])
    return value


def query_fingerprint(caller: Caller, *, filter_: str, order_by: str, show_deleted: bool) -> str:
    """A short digest of everything a page token must not outlive."""
    material = json.dumps(
        [caller.tenant_id, caller.app_id, filter_, order_by, show_deleted], separators=(",", ":")
    ).encode()
    return hashlib.sha256(material).hexdigest()[:32]
