"""What changed since an earlier list_depth run: its summary, and one sentence about it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.layout import shown
from bench.list_depth.format import case_title


def baseline_summary(path: Path | None) -> dict[str, Any] | None:
    """What the section compares against from an earlier full run (None: nothing)."""
    if path is None or not path.exists():
        return None
    old = json.loads(path.read_text())
    results = []
    for r in old["results"]:
        brief = {
            key: r[key]
            for key in ("tenant", "tenant_rows", "case", "filter", "order_by", "deep_page")
        }
        brief["verdict"] = r["verdict"]
        if "grpc_ms" in r:
            brief |= {
                "ratio_p50": r["ratio_p50"],
                "grpc_p50": {label: r["grpc_ms"][label]["p50"] for label in ("page1", "deep")},
                "sql_p50": {label: r["sql_ms"][label]["p50"] for label in ("page1", "deep")},
                "plans": {
                    label: {k: v for k, v in plans["custom"].items() if k != "text"}
                    for label, plans in r["explain"].items()
                },
            }
        results.append(brief)
    return {
        "result_file": shown(path),
        "date": old["date"],
        "git": old["git"],
        "results": results,
    }


def render_changes(report: dict[str, Any]) -> list[str]:
    """One paragraph: the worst deep page of the run before migration 0004 against this run's."""
    base = report.get("baseline")
    if not base:
        return []
    now = {(r["tenant"], r["case"]): r for r in report["results"] if "grpc_ms" in r}
    pairs = [
        (b, now[(b["tenant"], b["case"])])
        for b in base["results"]
        if (b["tenant"], b["case"]) in now and "grpc_p50" in b
    ]
    if not pairs:
        return []
    worst_b = max((b for b, _ in pairs), key=lambda b: b["ratio_p50"])
    worst_r = max((r for _, r in pairs), key=lambda r: r["ratio_p50"])
    plan = worst_b["plans"]["deep"]
    how = (
        f", its keyset position a Filter, so it read {round(plan['rows_scanned']):,} rows"
        if plan["keyset_in_filter"] and not plan["keyset_in_index_cond"]
        else f", reading {round(plan['rows_scanned']):,} rows"
    )
    seeking = sum(r["explain"]["deep"]["custom"]["keyset_in_index_cond"] for _, r in pairs)
    most_rows = max(
        r["explain"][label]["custom"]["rows_scanned"]
        for _, r in pairs
        for label in ("page1", "deep")
    )
    return [
        f"Against the run before migration 0004 (`{base['result_file']}`, revision "
        f"{base['git']}): the worst deep page was {worst_b['tenant']} "
        f"{case_title(worst_b)} at {worst_b['ratio_p50']:.2f}x page 1 ({worst_b['verdict']}){how}. "
        f"Now the worst is {worst_r['tenant']} {case_title(worst_r)} at "
        f"{worst_r['ratio_p50']:.2f}x, {seeking} of {len(pairs)} deep pages bound the keyset "
        f"position in an Index Cond, and no page reads more than {round(most_rows):,} rows.",
        "",
    ]
