"""How list_depth's results are worded: a query's title, milliseconds, rows read."""

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


def rows_read(plans: dict[str, Any]) -> str:
    """Rows the page 1 and deep plans read, as "page 1 / deep"."""
    return " / ".join(f"{round(plans[label]['rows_scanned']):,}" for label in ("page1", "deep"))
