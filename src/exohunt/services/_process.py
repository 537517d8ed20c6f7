"""Running a server process so that it stops with everything it started, whatever stops us.

:func:`run_until_stopped` starts a command in a process group of its own and waits. Ctrl-C,
SIGTERM and SIGHUP (a closed terminal) stop the whole group: SIGTERM, then SIGKILL after 10 s.
If this process dies without a chance to clean up (SIGKILL, a crash), the kernel sends the child
SIGTERM (Linux ``PR_SET_PDEATHSIG``), and the ``mlflow server`` it runs stops its own children.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable

#: Linux prctl option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def run_until_stopped(
    command: list[str],
    env: dict[str, str] | None = None,
    started: Callable[[subprocess.Popen], None] | None = None,
) -> int | None:
    """Run ``command`` until it exits (its exit code) or we are stopped (None, after stopping
    its process group). ``started(process)`` is called once it runs (to wait for readiness)."""
    parent = os.getpid()
    with _stop_signals_as_interrupt():
        process = subprocess.Popen(
            command, env=env, start_new_session=True, preexec_fn=lambda: _die_with(parent)
        )
        try:
            if started is not None:
                started(process)
            return process.wait()
        except KeyboardInterrupt:
            stop_group(process)
            return None


def stop_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop ``process``'s whole process group: SIGTERM, then SIGKILL after ``timeout`` s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _die_with(parent: int) -> None:
    """In the child, before exec: get SIGTERM when ``parent`` dies (Linux; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class _stop_signals_as_interrupt:
    """Within the block, SIGTERM (systemd, kill) and SIGHUP (a closed terminal) stop the server
    as Ctrl-C does."""

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self.previous[number] = signal.signal(number, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        return False
