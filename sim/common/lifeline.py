"""Child processes die with the process that started them: ``die_with_parent(parent)`` first thing in the child.

Why: a SIGKILLed parent runs no clean-up (no ``finally``, no ``atexit``, no ``close()``), so nothing of
it stops its children. A physics worker, the trace formatter or a robot host left running would keep
its CPU, its memory and, through the ``multiprocessing`` resource tracker's pipe it inherited, every
shared-memory segment of the run: the tracker unlinks a dead creator's segments only once every
process holding that pipe has gone. So each child asks the kernel (Linux ``prctl(PR_SET_PDEATHSIG)``)
for a signal, SIGKILL by default, the moment its parent goes, then checks the parent is still the
one it was started by: had the parent died before the ``prctl``, the child was already handed to
another process (init or a sub-reaper), no signal will come, and it exits at once instead.

**The parent is a thread.** Linux sends the signal when the *thread* that forked the child ends, not
when its process does (prctl(2): "the parent here is considered to be the thread that created this
process"). A child started from a short-lived thread is killed when that thread returns. So start
children from the main thread or from a thread that lives at least as long as they should (here:
the thread that calls ``Run.start`` also calls ``Run.stop``, which stops the workers and the trace
formatter; a sweep submits its runs from its main thread). ``multiprocessing``'s ``spawn`` and
``subprocess.Popen`` fork (then exec) in the calling thread, so this applies to them too; the setting
survives the ``exec`` (it is cleared only for set-user-ID binaries and in a fork's child, which is why
every child calls this itself rather than inheriting it).

**Elsewhere** (macOS, Windows, a libc without ``prctl``) this is a no-op returning False: there the
children still end when their input pipe closes (the workers and the formatter read EOF), but a child
that holds no pipe to its parent, or whose pipe another process also holds, may outlive a SIGKILL.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from typing import Any

__all__ = ["death_signal", "die_with_parent"]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PR_GET_PDEATHSIG = 2


@functools.cache
def _prctl() -> Any | None:
    """libc's ``prctl`` (None where there is none: not Linux, or a libc without it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent ``parent`` (its pid) ends; True if armed.

    Call it first thing in a child, with the pid the parent had when it started the child
    (``os.getpid()`` taken in the parent, before the fork, passed down). If this process's
    parent is no longer ``parent`` (it died before the call), this process ends now: it
    sends itself ``sig`` (``os._exit(128 + sig)`` should that not end it). ``sig`` must be
    one the child neither ignores nor handles; SIGKILL, the default, can be neither.
    Returns False, having done nothing, where ``prctl`` is unavailable (see the module docstring).
    Raises OSError if the kernel refuses the call (an invalid signal number).
    """
    prctl = _prctl()
    if prctl is None:
        return False
    if prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG, {int(sig)}): {os.strerror(err)}")
    if os.getppid() != parent:  # the parent died before the prctl: no signal will come
        os.kill(os.getpid(), sig)
        os._exit(128 + int(sig))
    return True


def death_signal() -> int | None:
    """The signal this process gets when its parent ends (0: none); None where ``prctl`` is unavailable."""
    prctl = _prctl()
    if prctl is None:
        return None
    value = ctypes.c_int(0)
    if prctl(PR_GET_PDEATHSIG, ctypes.byref(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_GET_PDEATHSIG): {os.strerror(err)}")
    return value.value
