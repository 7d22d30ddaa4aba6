"""The server's CPU priority: behind the database it waits on, when they share a host.

On a host where the workers and PostgreSQL compete for the same cores, a
worker that keeps a core while a database backend waits for one gains
nothing: its calls sit in batches already sent, each waiting on a backend
that is waiting on the worker. With the workers behind, the database answers
at once and calls wait in the worker's own queue, in the order they came, so
each method's latency stays close to the others'. The price is some
throughput, as the workers' batches are smaller (docs/performance.md); with
the database on another host there is nothing to gain.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

_log = logging.getLogger(__name__)

# How far the server steps back when the database shares its host.
NICENESS_BESIDE_DATABASE = 10

# Linux with autogroups shares the CPU between sessions first, and nice only
# orders the processes of one session; pg_ctl starts PostgreSQL in a session
# of its own.
_AUTOGROUP = Path("/proc/self/autogroup")


def database_on_this_host(database_url: str) -> bool:
    """Whether every host database_url names is this machine (loopback or a Unix socket)."""
    try:
        hosts = str(conninfo_to_dict(database_url).get("host") or "").split(",")
    except psycopg.ProgrammingError:
        return False
    return all(_is_local(host.strip()) for host in hosts)


def _is_local(host: str) -> bool:
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_niceness(database_url: str) -> int:
    """COHORTS_NICENESS when unset: step back only for a database on this host."""
    return NICENESS_BESIDE_DATABASE if database_on_this_host(database_url) else 0


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
