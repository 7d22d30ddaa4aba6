"""Before/after: the working tree against an earlier revision, interleaved on one machine.

    python -m bench.ab --before REV[,REV...] [--scenarios get,list] [--rounds 3] [--duration 5]
        [--workers 1]

On a shared machine absolute numbers drift by tens of percent within minutes,
so two `bench.run`s taken at different times cannot show what a change did.
This runs the servers in turns (after, before, after, before, …; with several
revisions, each is a variant of its own in the same turns) against
the same seeded database (bench.run's main dataset), one worker each by
default so the numbers are the code's rather than SO_REUSEPORT's placement
(--workers N when the change is about several workers), with the same
h2load settings as bench.run, and reports the median of the rounds. The
earlier revision is checked out as a git worktree under bench/.data and run
with its own `src/` first on PYTHONPATH (the venv, protos and harness are
this tree's), on the schema of its own newest migration: this tree's
migrations take the database down to it before each of its rounds and back up
after. The echo scenario runs on one echo server of this tree
(bench/echo_server.py) for both variants: the same for each, it shows how far
the machine drifted between their turns. Results go to
bench/results/ab-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.calls import Call
from bench.harness import main_dataset
from bench.layout import DATA_DIR, RESULTS_DIR, ROOT, log
from bench.loadgen import Part
from bench.machine import git_revision, machine
from bench.scenarios import single
from bench.tenant_traffic import tenant_calls

if TYPE_CHECKING:
    from alembic.config import Config


def restore_encodings(owner_url: str) -> None:
    import psycopg

    from cohorts.api.wire import COHORT_WIRE
    from cohorts.storage.reencode import reencode

    with psycopg.connect(owner_url) as connection:
        reencode(connection, COHORT_WIRE)


def _migrations(tree: Path) -> Config:
    """Alembic's configuration for a checkout's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(tree / "src/cohorts/storage/migrations"))
    return config


def schema_head(tree: Path) -> str:
    """The newest migration in a checkout's tree."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_migrations(tree)).get_current_head()
    if head is None:
        raise SystemExit(f"no migrations under {tree}")
    return head


def use_schema(owner_url: str, revision: str) -> None:
    """Bring the database to revision, down or up, with this tree's migrations.

    An earlier revision then runs on the schema its own migrations made, so a
    change to the schema is measured too.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from cohorts.storage.database import sqlalchemy_url

    config = _migrations(ROOT)
    engine = create_engine(sqlalchemy_url(owner_url))
    try:
        with engine.begin() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            older = {
                script.revision
                for script in ScriptDirectory.from_config(config).iterate_revisions(current, "base")
            }
            config.attributes["connection"] = connection
            if revision in older - {current}:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)
    finally:
        engine.dispose()


def worktree(revision: str) -> Path:
    """A checkout of revision under bench/.data (reused when it exists)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if not commit:
        raise SystemExit(f"unknown revision {revision!r}")
    path = DATA_DIR / f"ab-{commit}"
    if not (path / "src").exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--force", str(path), commit],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return path


# The mixed load's split of its 64 calls in flight (method: connections x
# streams), fixed so both variants face the same load: about bench.run's own
# split ("The mix as run" in docs/performance.md, "Throughput against the
# ceilings"), 70/15/10/5 of completed calls.
MIX_PARTS = {"get": (4, 11), "list": (4, 2), "update": (4, 2), "create": (2, 1)}


def parts_for(
    name: str, calls: dict[str, Call], args: argparse.Namespace, tenants: Call | None
) -> list[Part]:
    """The h2load processes of one scenario; mixed_tenants is bench.run's multi-tenant mix."""
    if name == "mixed":
        return [Part(calls[n], clients, streams) for n, (clients, streams) in MIX_PARTS.items()]
    if name == "mixed_tenants" and tenants is not None:
        return [Part(tenants, args.clients, args.streams)]
    return single(calls[name], args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument(
        "--before",
        required=True,
        help="git revision(s) to compare against, comma-separated (each a variant of its own)",
    )
    parser.add_argument("--scenarios", default="echo,get,list,create,update")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument(
        "--workers", type=int, default=1, help="COHORTS_WORKERS for both servers (default 1)"
    )
    args = parser.parse_args(argv)
    scenarios = args.scenarios.split(",")
    befores = {revision: worktree(revision) for revision in args.before.split(",")}

    harness = main_dataset(duration=args.duration, warmup=1.5, prefix="bench-ab-")
    bench, dataset, bearer, calls = harness.bench, harness.dataset, harness.bearer, harness.calls
    tenants = (
        tenant_calls(dataset.owner_url, dataset.tenants).mix
        if "mixed_tenants" in scenarios
        else None
    )
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    variants: dict[str, str | None] = {"after": None}
    schemas = {"after": schema_head(ROOT)}
    for revision, tree in befores.items():
        name = "before" if len(befores) == 1 else revision
        variants[name] = str(tree / "src")
        schemas[name] = schema_head(tree)
    if "echo" in scenarios:
        # One echo server, of this tree's code, for both variants (PYTHONPATH is unset yet).
        bench.start_echo(args.workers)
    try:
        for round_number in range(args.rounds):
            for variant, python_path in variants.items():
                if python_path is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = python_path
                if python_path is None:
                    # Rows the earlier revision wrote may lack this tree's stored
                    # encodings (migration 0005); give them the ones it would have written.
                    restore_encodings(dataset.owner_url)
                use_schema(dataset.owner_url, schemas[variant])
                # The database is at this variant's own head (use_schema), which
                # an earlier revision's migrations may not know how to reach.
                bench.start_server(dataset.owner_url, args.workers, migrate_on_start=False)
                try:
                    for name in scenarios:
                        m = bench.h2load(name, parts_for(name, calls, bench.args, tenants), bearer)
                        sample = {
                            "rps": m.rps,
                            "server_us": m.per_1k(m.cpu.server) * 1000,
                            "db_us": m.per_1k(m.cpu.database) * 1000,
                            "p50_ms": m.ms(50),
                            "p99_ms": m.ms(99),
                            "errors": m.errors,
                        }
                        runs.setdefault(name, {}).setdefault(variant, []).append(sample)
                        log(
                            f"round {round_number + 1} {variant:14s} {name:8s} "
                            f"{m.rps:7.0f} req/s, server {sample['server_us']:5.0f} µs/call, "
                            f"db {sample['db_us']:4.0f} µs/call, errors {m.errors}"
                        )
                finally:
                    bench.stop_server()
    finally:
        os.environ.pop("PYTHONPATH", None)
        harness.close()

    summary: dict[str, Any] = {}
    print(
        "\n| scenario | variant | req/s | change | server µs/call | db µs/call | p99/p50 |"
        "\n|---|---|--:|--:|--:|--:|--:|"
    )
    for name in scenarios:
        medians = {
            variant: {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            for variant, samples in runs[name].items()
        }
        summary[name] = medians
        after = medians["after"]
        for variant, median in medians.items():
            change = "" if variant == "after" else f"{after['rps'] / median['rps'] - 1:+.0%}"
            print(
                f"| {name} | {variant} | {median['rps']:,.0f} | {change} "
                f"| {median['server_us']:,.0f} | {median['db_us']:,.0f} "
                f"| {median['p99_ms'] / median['p50_ms']:.2f} |"
            )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result_file = RESULTS_DIR / f"ab-{stamp}.json"
    result_file.write_text(
        json.dumps(
            {
                "benchmark": "ab",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "before": args.before,
                "after": git_revision(),
                "machine": machine(),
                "workers": args.workers,
                "rounds": args.rounds,
                "duration_s": args.duration,
                "medians": summary,
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {result_file.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
