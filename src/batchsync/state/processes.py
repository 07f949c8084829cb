"""Whether the process named in a lease or a run record still runs on this host.

A pid alone does not say. A run killed together with its parent (a supervisor, `timeout -s KILL`, a
container whose init reaps slowly) stays a zombie until someone reaps it, and a zombie still answers
`kill(pid, 0)`; and once it is reaped, its pid may be handed to an unrelated process. On Linux,
`/proc/PID/stat` tells both apart: its state field is `Z` (zombie) or `X` (dead) for a process that has
ended, and its start time (clock ticks since boot) differs for a recycled pid. So batchsync stores the
start time beside the pid, and compares. Where there is no /proc, only `kill(pid, 0)` is asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_ENDED_STATES = frozenset({"Z", "X", "x"})  # zombie; dead ("x" on kernels before 3.13)


@dataclass(frozen=True, slots=True)
class ProcessStat:
    """The two fields of /proc/PID/stat that liveness needs."""

    state: str
    """One letter: R running, S sleeping, D disk wait, T stopped, Z zombie, X dead, …"""
    start_ticks: int
    """When the process started, in clock ticks since boot: with the pid, it names one process."""


def parse_stat(text: bytes) -> ProcessStat:
    """The state (field 3) and start time (field 22) of a /proc/PID/stat line. Raises ValueError.

    Field 2 is the command name in parentheses, and may itself hold spaces and parentheses (a process
    can name itself `a) Z (b`), so the fields are counted from the last `)`, never split from the start.
    """
    head, paren, rest = text.rpartition(b")")
    fields = rest.split()
    if not paren or b"(" not in head or len(fields) < 20:
        raise ValueError(f"not a /proc/PID/stat line: {text[:80]!r}")
    return ProcessStat(state=fields[0].decode("ascii"), start_ticks=int(fields[19]))


def read_stat(pid: int) -> ProcessStat | None:
    """The process's stat, or None when it cannot be read (no such process, no /proc, hidden by
    `hidepid`, or a line this parser does not understand)."""
    try:
        return parse_stat((_PROC / str(pid) / "stat").read_bytes())
    except (OSError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    """The start time to store beside `pid`, so a later check can tell it from a recycled pid; None
    where /proc cannot say (then the pid alone is checked)."""
    stat = read_stat(pid)
    return None if stat is None else stat.start_ticks


def is_running(pid: int, started_ticks: int | None = None) -> bool:
    """Whether process `pid` runs on this host, and is the one that started at `started_ticks` (when
    known). A zombie counts as ended: it will never touch the database again."""
    if pid <= 0:  # kill(0, 0) would ask about our own process group
        return False
    stat = read_stat(pid)
    if stat is None:
        return _answers_signals(pid)  # no /proc, or a process /proc hides from us: ask the kernel
    if stat.state in _ENDED_STATES:
        return False
    return started_ticks is None or stat.start_ticks == started_ticks


def _answers_signals(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
