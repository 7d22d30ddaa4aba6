"""What changed since an earlier list_depth run: its summary, and the section's prose about it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.layout import shown
from bench.list_depth.format import case_title, fmt_ms, rows_read


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


_SORT_KEYS_MOVED_BY_0004 = ("start_date", "end_date", "session_count")


def render_changes(report: dict[str, Any]) -> list[str]:
    """ "What changed since the first run": the run before migration 0004 against this one."""
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
    by_key = {(b["tenant"], b["case"]): (b, r) for b, r in pairs}
    tenants = sorted({r["tenant"]: r["tenant_rows"] for _, r in pairs}.items(), key=lambda t: t[1])
    mid, largest = tenants[0][0], tenants[-1][0]

    def rows(plans: dict[str, Any], label: str) -> str:
        return f"{round(plans[label]['rows_scanned']):,}"

    sentences = [
        f"The first run ({base['date'][:10]}, revision {base['git']}, `{base['result_file']}`) "
        "measured the schema before migration 0004 (`0004_rls_friendly_list_indexes`)."
    ]
    worst_b, worst_r = max(pairs, key=lambda pair: pair[0]["ratio_p50"])
    sentence = (
        f"Then {worst_b['tenant']} {case_title(worst_b)} page {worst_b['deep_page']} was "
        f"{worst_b['ratio_p50']:.2f}x page 1 ({fmt_ms(worst_b['grpc_p50']['deep'])} against "
        f"{fmt_ms(worst_b['grpc_p50']['page1'])} ms p50, {worst_b['verdict']})"
    )
    deep_plan = worst_b["plans"]["deep"]
    nullable_key = worst_b["order_by"].split(" ")[0] in _SORT_KEYS_MOVED_BY_0004
    if nullable_key and deep_plan["keyset_in_filter"] and not deep_plan["keyset_in_index_cond"]:
        sentence += (
            ": the nullable key was ordered through a `COALESCE` expression, which is not "
            "leakproof, so under row-level security the keyset position was a Filter and the "
            f"page read {rows(worst_b['plans'], 'deep')} rows to return 51"
        )
    sentences.append(sentence + ".")
    filtered = by_key.get((largest, "active_by_start"))
    if filtered:
        fb, _ = filtered
        sentence = (
            f"Filtered and ordered queries could read every matching row and sort them: {largest} "
            f"{case_title(fb)} read {rows(fb['plans'], 'page1')} rows for page 1 and "
            f"{rows(fb['plans'], 'deep')} for page {fb['deep_page']} "
            f"({fmt_ms(fb['grpc_p50']['page1'])} ms p50)"
        )
        mid_default = by_key.get((mid, "default"))
        if mid_default:
            mb, _ = mid_default
            page1 = mb["plans"]["page1"]
            if page1["rows_scanned"] >= 0.9 * mb["tenant_rows"] and page1["sort"]:
                estimate = next(iter(page1["estimated_vs_actual_rows"]), [None, None])[0]
                sentence += (
                    f", and even the ~10k tenant's unfiltered page 1 read all "
                    f"{rows(mb['plans'], 'page1')} of {mid}'s rows and sorted them, because the "
                    "old policy's `coalesce(app) = '' OR app_id = app` made the planner expect "
                    + (f"{int(estimate):,} rows" if estimate else "a handful of rows")
                )
        sentences.append(sentence + ".")
    sentences.append(
        "0004 sorts the nullable keys on stored generated columns (`start_sort`, `end_sort`, "
        "`sessions_sort`) with `(tenant_id, key, id)` indexes, adds `(tenant_id, status, "
        "start_sort, id)`, states the policy in CASE form, marks `jsonb_contains`/"
        "`jsonb_exists` LEAKPROOF and matches name prefixes with `starts_with` (the last two "
        "serve filters this benchmark does not run)."
    )
    seeking = sum(r["explain"]["deep"]["custom"]["keyset_in_index_cond"] for _, r in pairs)
    max_rows_now = max(
        r["explain"][label]["custom"]["rows_scanned"]
        for _, r in pairs
        for label in ("page1", "deep")
    )
    sentence = (
        f"Now {seeking} of {len(pairs)} deep pages bound the keyset position in an Index Cond "
        f"and no page reads more than {round(max_rows_now):,} rows: {worst_r['tenant']} "
        f"{case_title(worst_r)} page {worst_r['deep_page']} is {worst_r['ratio_p50']:.2f}x "
        f"({fmt_ms(worst_r['grpc_ms']['deep']['p50'])} against "
        f"{fmt_ms(worst_r['grpc_ms']['page1']['p50'])} ms, {worst_r['verdict']})"
    )
    if filtered:
        fb, fr = filtered
        sentence += (
            f", and {largest} {case_title(fr)} reads "
            f"{round(fr['explain']['page1']['custom']['rows_scanned']):,} rows and takes "
            f"{fmt_ms(fr['grpc_ms']['page1']['p50'])} ms at page 1 (was "
            f"{fmt_ms(fb['grpc_p50']['page1'])})"
        )
    sentences.append(sentence + ".")
    unchanged = by_key.get((largest, "default"))
    if unchanged:
        ub, ur = unchanged
        sentences.append(
            "Not all of the drop in latency is 0004's: storage also moved from SQLAlchemy's "
            "async engine to psycopg directly (one pipelined round trip per read) between the "
            f"runs, so even {largest}'s default order, whose plans read "
            f"{rows_read(ub['plans'])} rows then and "
            f"{rows_read({k: v['custom'] for k, v in ur['explain'].items()})} now, went from "
            f"{fmt_ms(ub['grpc_p50']['page1'])} to {fmt_ms(ur['grpc_ms']['page1']['p50'])} ms at "
            "page 1. Compare ratios and rows read rather than milliseconds."
        )
    lines = [
        "### What changed since the first run",
        "",
        " ".join(sentences),
        "",
        "| tenant | query | deep ÷ page 1, before → now | page 1 p50 ms, before → now "
        "| deep p50 ms, before → now | rows read page 1 / deep, before → now |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for b, r in pairs:
        lines.append(
            f"| {r['tenant']} | {case_title(r)} "
            f"| {b['ratio_p50']:.2f}x {b['verdict']} → {r['ratio_p50']:.2f}x {r['verdict']} "
            f"| {fmt_ms(b['grpc_p50']['page1'])} → {fmt_ms(r['grpc_ms']['page1']['p50'])} "
            f"| {fmt_ms(b['grpc_p50']['deep'])} → {fmt_ms(r['grpc_ms']['deep']['p50'])} "
            f"| {rows_read(b['plans'])} → "
            f"{rows_read({k: v['custom'] for k, v in r['explain'].items()})} |"
        )
    return [*lines, ""]
