"""Processes that end with the process that started them (Linux's parent-death signal).

A supervisor killed outright (SIGKILL, an OOM kill) cannot stop its children; without
this they would go on serving, re-parented to init, holding the ports and the database.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
# Loaded once here: a child between fork and exec must not load libraries.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask the kernel to send signum to this process when its parent exits (Linux only)."""
    if _LIBC is None:
        return
    parent = os.getppid()
    if _LIBC.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        return
    # The parent may have exited before the request took effect.
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)
