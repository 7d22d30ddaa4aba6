"""Checks `cohorts serve` makes before it starts anything: each failure is one line to act on.

The settings' own validation (settings.py) catches values that cannot be right; these
catch values that cannot work here and now: an address this host does not have or
another process holds, a database that does not answer.
"""

from __future__ import annotations

import errno
import socket

import psycopg
from psycopg.conninfo import conninfo_to_dict

from cohorts.settings import Settings, split_host_port

_DATABASE_TIMEOUT_SECONDS = 5


def address_problem(address: str) -> str | None:
    """Why address cannot be bound exclusively right now, or None when it can."""
    host, port = split_host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror as error:
        return f"the host name {host!r} does not resolve ({error.strerror})"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(infos[0][4])
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} is in use by another process (is another server running?)"
            if error.errno == errno.EADDRNOTAVAIL:
                return f"this host has no address {host}; use one of its own, or 0.0.0.0"
            if error.errno == errno.EACCES:
                return f"binding port {port} needs privileges; use a port above 1023"
            return f"cannot bind it: {error.strerror or error}"
    return None


def address_problems(settings: Settings) -> list[str]:
    """One line per address setting that cannot be listened on."""
    lines = []
    for variable, address in (
        ("COHORTS_LISTEN", settings.listen),
        ("COHORTS_HTTP_LISTEN", settings.http_listen),
        ("COHORTS_METRICS_LISTEN", settings.metrics_listen),
    ):
        if not address or address.endswith(":0"):
            continue
        problem = address_problem(address)
        if problem:
            lines.append(f"{variable}={address!r}: {problem}")
    addresses = [a for a in (settings.listen, settings.http_listen, settings.metrics_listen) if a]
    if len(set(addresses)) < len(addresses):
        lines.append(
            "COHORTS_LISTEN, COHORTS_HTTP_LISTEN and COHORTS_METRICS_LISTEN must be three "
            f"different addresses, not {', '.join(addresses)}"
        )
    return lines


def database_problem(variable: str, url: str) -> str | None:
    """Why the database at url cannot be reached now (host, port, the driver's reason)."""
    from cohorts.storage.database import psycopg_conninfo

    conninfo = psycopg_conninfo(url)
    parts = conninfo_to_dict(conninfo)
    where = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
    try:
        with psycopg.connect(conninfo, connect_timeout=_DATABASE_TIMEOUT_SECONDS):
            return None
    except psycopg.Error as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        return f"{variable}: cannot connect to PostgreSQL at {where}: {reason}"
