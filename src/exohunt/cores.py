"""How many cores this process may use, and how many worker processes to start on them.

The cores are those of the process's CPU affinity (``os.sched_getaffinity``: a container, a
``taskset`` or a batch system may grant fewer than the machine has), not ``os.cpu_count()``.
"""

from __future__ import annotations

import os
import threading
import time

#: Seconds between a pool worker's checks that the process that started it is still there.
PARENT_POLL_SECONDS = 1.0


def usable_cores() -> int:
    """The cores this process may run on (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def n_workers(n_jobs: int | None, n_tasks: int) -> int:
    """Processes for ``n_tasks`` tasks: ``n_jobs`` (-1, 0 or None: every usable core), never
    more than the usable cores or the tasks."""
    cores = usable_cores()
    wanted = cores if n_jobs is None or n_jobs <= 0 else int(n_jobs)
    return max(1, min(wanted, cores, n_tasks))


def threads(n_jobs: int | None) -> int:
    """Threads for a thread pool (XGBoost's): ``n_jobs``, or with -1, 0 or None every usable
    core; never more than the usable cores."""
    return n_workers(n_jobs, 1 << 30)


def torch_threads(n_jobs: int | None) -> int:
    """PyTorch's intra-op threads: 1, unless ``n_jobs`` > 0 asks for more (at most the usable
    cores).

    Measured on a 2-core machine (``bench/contention.py``; the bundled KOI table's MLP and 3,000
    TESS views' CNN): 2 threads train at best 5% faster than 1 on an idle machine, and 1.6x
    (CNN) to 3.5x (MLP) slower than 1 beside a process that keeps one core busy, because
    OpenMP's threads wait for each other at every operation. exohunt's networks are small; one
    thread keeps them fast on a busy machine.
    """
    return threads(n_jobs) if n_jobs is not None and n_jobs > 0 else 1


def process_pool(n_jobs: int, **kwargs):
    """A :class:`joblib.Parallel` of ``n_jobs`` loky worker processes that exit within
    :data:`PARENT_POLL_SECONDS` of this process's end, however it ends. Loky's own workers
    outlive a killed or terminated parent: they go on with the tasks already queued to them
    (the two workers of a terminated injection run, the ``inject`` of ``exohunt simulate
    --into``, ran on for 25 minutes). ``kwargs`` go to ``Parallel`` (``return_as``, ...)."""
    from joblib import Parallel

    return Parallel(
        n_jobs=n_jobs, backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),),
        **kwargs,
    )  # fmt: skip


def exit_with_parent(parent: int) -> None:
    """In a worker process: exit once ``parent`` (the process that started it) is gone. A thread
    polls the parent's pid: unlike Linux's parent-death signal, it does not depend on which of
    the parent's threads started the worker, and works on every POSIX system."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exohunt-exit-with-parent", daemon=True).start()
