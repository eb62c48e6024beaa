"""Which process wrote a run, and whether that process still exists.

A run records the host name, the process id and, on Linux, the process's identity: the
machine id, the boot id, the pid namespace and the start time of the process in clock ticks
since boot. A pid that was reused by another process then never passes for the run's
process, nor does a process of another container (its own pid namespace), and after a
reboot every process of the earlier boot is known to be gone.

Elsewhere on POSIX only the pid is checked (``kill(pid, 0)``); on Windows nothing is, so
no run is ever marked killed there.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from dataclasses import dataclass

__all__ = ["ProcessIdentity", "process_gone", "this_host", "this_process"]

_HOST_LENGTH = 255


@dataclass(frozen=True)
class ProcessIdentity:
    """Where a process runs: host name, pid and (on Linux) its start identity."""

    host: str
    pid: int
    start: str | None


def this_process() -> ProcessIdentity:
    """The identity of the calling process (computed once per process)."""
    return _identity(os.getpid())


@functools.cache
def this_host() -> str:
    """This machine's name as runs record it (no /proc reads: the store opens with it)."""
    return socket.gethostname()[:_HOST_LENGTH]


@functools.lru_cache(maxsize=4)  # keyed by pid: a forked child computes its own
def _identity(pid: int) -> ProcessIdentity:
    host = this_host()
    ticks = _start_ticks(pid)
    start = None if ticks is None else f"{_machine()}:{_boot()}:{_namespace()}:{ticks}"
    return ProcessIdentity(host, pid, start)


def process_gone(pid: int, start: str | None) -> bool:
    """Whether the process ``pid`` (with identity ``start``) of this host no longer exists.

    ``False`` whenever that cannot be known (another machine or container, no permission,
    Windows): a run is marked killed only on evidence.
    """
    if os.name != "posix" or pid <= 0:
        return False
    if start is not None:
        known = _gone_by_identity(pid, start)
        if known is not None:
            return known
    return not _exists(pid)


def _gone_by_identity(pid: int, start: str) -> bool | None:
    """True/False when the recorded identity decides; None to fall back to the pid."""
    parts = start.split(":")
    if len(parts) != 4 or not sys.platform.startswith("linux"):
        return None
    machine, boot, namespace, ticks = parts
    if machine != _machine():
        return False  # another machine of the same name: its processes are not visible
    if boot != _boot():
        return True  # this machine rebooted since: every process of that boot is gone
    if namespace != _namespace():
        return False  # another container's process: not visible from here
    if not _exists(pid):
        return True
    now = _start_ticks(pid)
    return now is not None and str(now) != ticks  # the pid now names another process


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # the name may hold spaces and parentheses
    return int(fields[19]) if len(fields) > 19 else None  # field 22: starttime


@functools.cache
def _machine() -> str:
    return _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")


@functools.cache
def _boot() -> str:
    return _read("/proc/sys/kernel/random/boot_id")


@functools.cache
def _namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        return ""


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip().replace(":", "")
    except OSError:
        return ""
