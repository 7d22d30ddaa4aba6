"""bench.run's main dataset and a Bench to drive it, for the side tools (bench.ab, bench.mix)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.calls import Call, calls_for
from bench.dataset import FULL, Dataset, prepare_main_dataset, token
from bench.layout import DATA_DIR, PGDATA, start_postgres
from bench.loadgen import Bench
from bench.run import parse_args


@dataclass
class MainDataset:
    """The main dataset seeded on the harness's PostgreSQL, and a Bench to drive it."""

    bench: Bench
    dataset: Dataset
    bearer: str
    calls: dict[str, Call]

    def close(self) -> None:
        """Stop the servers and remove the work directory."""
        self.bench.stop_server()
        self.bench.stop_echo()
        shutil.rmtree(self.bench.work, ignore_errors=True)


def main_dataset(*, duration: float, warmup: float, prefix: str) -> MainDataset:
    """Start the embedded PostgreSQL, seed the main dataset, and ready h2load runs on it.

    The tools run bench.run's calls with bench.run's client settings, their
    own durations and no doc, waiting for nothing.
    """
    server_url = start_postgres(PGDATA)
    dataset = prepare_main_dataset(server_url, FULL)
    args = parse_args(
        ["--duration", str(duration), "--warmup", str(warmup), "--wait-quiet", "0", "--no-doc"]
    )
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=DATA_DIR))
    return MainDataset(Bench(args, FULL, work), dataset, token(dataset.tenant), calls_for(dataset))
