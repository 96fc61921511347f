"""Processes that distortx starts end with the process that started them.

A worker (generation pool, codec pool, dataloader worker) calls :func:`die_with_parent` first thing: on Linux
the kernel sends it SIGKILL the moment its parent dies (``prctl(PR_SET_PDEATHSIG)``), whatever killed the parent
(SIGKILL, the OOM killer, a scheduler's preemption); everywhere a daemon thread also checks once a second that
the parent is still the one it was started by. Workers ignore SIGINT: Ctrl-C reaches the whole process group,
and the parent alone decides how to stop (it cancels the pending work and waits for the running units).

:func:`sigterm_as_interrupt` makes SIGTERM (what ``kill`` and job schedulers send) behave like Ctrl-C in the
parent, so both end through the same path: workers stopped, one line, a non-zero status, and a rerun resumes.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(interval)


def die_with_parent(parent_pid: Optional[int] = None, interval: float = 1.0) -> None:
    """In a child process: exit as soon as the parent ``parent_pid`` (default: the current parent) is gone."""
    parent_pid = os.getppid() if parent_pid is None else int(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, interval), daemon=True,
                     name="distortx-parent-watch").start()


def worker_init(parent_pid: int):
    """A picklable ``initializer`` / ``worker_init_fn`` body: ``functools.partial(worker_init, os.getpid())``."""
    die_with_parent(parent_pid)


def _raise_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def ignore_sigterm_from_now() -> None:
    """For a program's entry point once its command is over (its outputs written, or its interruption reported): a
    SIGTERM in the interpreter's teardown (a few hundred ms with torch) would otherwise kill the process with no line
    and status -15, a job that had finished reported as killed."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block (main thread only; elsewhere a no-op), SIGTERM raises KeyboardInterrupt like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
