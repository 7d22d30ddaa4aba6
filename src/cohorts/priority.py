"""The server's CPU priority: behind the database it waits on, when they share a host.

On a host where the workers and PostgreSQL compete for the same cores, a
worker that keeps a core while a database backend waits for one gains
nothing: its calls sit in batches already sent, each waiting on a backend
that is waiting on the worker. With the workers behind, the database answers
at once and calls wait in the worker's own queue, in the order they came, so
each method's latency stays close to the others'. The price is some
throughput, as the workers' batches are smaller (docs/performance.md, "CPU
priority"); with
the database on another host there is nothing to gain.

It is opt-in (COHORTS_NICENESS, default 0): a loopback database URL may as well be
a PgBouncer or a cloud SQL proxy, and a service manager's unit leads its own session.
Co-located development and the benchmark (`make bench`) set it explicitly.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

_log = logging.getLogger(__name__)

# Linux with autogroups shares the CPU between sessions first, and nice only
# orders the processes of one session; pg_ctl starts PostgreSQL in a session
# of its own.
_AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(niceness: int) -> None:
    """Lower this process's CPU priority by niceness; processes it starts inherit it.

    A session leader lowers its session's autogroup too. Any other process
    leaves the autogroup alone: it is shared with whoever started it (a
    terminal's shell, say).
    """
    if niceness == 0:
        return
    try:
        os.nice(niceness)
    except OSError as error:
        _log.warning("cannot lower the server's CPU priority: %s", error)
        return
    if os.getsid(0) == os.getpid() and _AUTOGROUP.exists():
        try:
            _AUTOGROUP.write_text(str(niceness))
        except OSError as error:
            _log.warning("cannot lower the server session's CPU priority: %s", error)
            return
    _log.info("server processes run at niceness %d", os.nice(0))
