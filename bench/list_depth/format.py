"""How list_depth's results are worded: a query's title, milliseconds."""

from __future__ import annotations

from typing import Any


def case_title(result: dict[str, Any]) -> str:
    """The filter and order of a result, as the doc names them."""
    parts = []
    if result["filter"]:
        parts.append(f"`{result['filter']}`")
    parts.append(f"order_by `{result['order_by'] or 'created_at desc'}`")
    return " ".join(parts)


def fmt_ms(value: float) -> str:
    """Milliseconds to two decimals."""
    return f"{value:.2f}"
