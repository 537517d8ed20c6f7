"""How many cores this process may use, and how many worker processes to start on them.

The cores are those of the process's CPU affinity (``os.sched_getaffinity``: a container, a
``taskset`` or a batch system may grant fewer than the machine has), not ``os.cpu_count()``.
"""

from __future__ import annotations

import os


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
