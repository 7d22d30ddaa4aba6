"""A fixed mixed load, to see how the methods of one mix share the server.

    python -m bench.mix [--workers 1] [--rounds 2] [--duration 8]

bench.run's mixed scenario re-splits the calls in flight until the completed
shares match 70/15/10/5, which hides how the server itself shares out its
time. This keeps the split fixed (GetCohort 4 connections x 12 streams,
ListCohorts 4 x 2, UpdateCohort 4 x 2, CreateCohort 3 x 1) and prints each
method's throughput and latency. A FIFO server gives every call about the
same latency; a server that serves methods in turns gives every method about
the same throughput instead (docs/performance.md, "Generic handlers").
"""

from __future__ import annotations

import argparse

from bench.harness import main_dataset
from bench.layout import log
from bench.loadgen import Part

PLAN = {"get": (4, 12), "list": (4, 2), "update": (4, 2), "create": (3, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mix", description=__doc__)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args(argv)

    harness = main_dataset(duration=args.duration, warmup=2.0, prefix="bench-mix-")
    bench = harness.bench
    parts = [
        Part(harness.calls[name], clients, streams) for name, (clients, streams) in PLAN.items()
    ]
    bench.start_server(harness.dataset.owner_url, args.workers, migrate_on_start=False)
    try:
        for round_number in range(args.rounds):
            m = bench.h2load("mixed", parts, harness.bearer)
            log(
                f"round {round_number + 1}: {m.rps:,.0f} req/s, p50 {m.ms(50):.1f} ms, "
                f"p99 {m.ms(99):.1f} ms, errors {m.errors}"
            )
            for name, part in m.parts.items():
                log(
                    f"  {name:8s} {part['in_flight']:3d} in flight {part['rps']:7,.0f} req/s "
                    f"p50 {part['p50_ms']:6.1f} ms p99 {part['p99_ms']:6.1f} ms"
                )
    finally:
        harness.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
