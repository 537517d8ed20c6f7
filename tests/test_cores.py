"""Workers follow the cores this process may use (its CPU affinity), not the machine's count,
and a command's worker processes end with it, however it is stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from exohunt.cores import n_workers, threads, torch_threads, usable_cores
from tests.support import session_processes


def test_workers_never_exceed_the_tasks_or_the_cores():
    cores = usable_cores()
    assert n_workers(-1, 1000) == cores
    assert n_workers(-1, 1) == 1
    assert n_workers(64, 1000) == cores
    assert n_workers(1, 1000) == 1
    assert n_workers(None, 0) == 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_process_pinned_to_one_core_starts_one_worker():
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]});"
        "from exohunt.cores import n_workers, usable_cores;"
        "print(usable_cores(), n_workers(-1, 100))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]


def test_networks_train_on_one_thread_unless_asked():
    torch = pytest.importorskip("torch")
    import numpy as np

    from exohunt.models.torch_mlp import TorchMLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)), np.r_[np.zeros(32), np.ones(32)]
    TorchMLPClassifier(epochs=1, hidden_layers=(4,)).fit(X, y)
    assert torch.get_num_threads() == 1
    TorchMLPClassifier(epochs=1, hidden_layers=(4,), n_jobs=2).fit(X, y)
    assert torch.get_num_threads() == min(2, usable_cores())
    assert torch_threads(-1) == 1 and torch_threads(None) == 1
    assert threads(-1) == usable_cores() and threads(1) == 1


def _pool_workers(leader: int) -> list[str]:
    return [c for c in session_processes(leader) if "popen_loky" in c]


@pytest.mark.parametrize(
    "how",
    ["SIGTERM", "SIGKILL", "SIGHUP", "Ctrl-C"],
)
def test_a_scans_worker_processes_end_with_it_however_it_is_stopped(how, shared_data, tmp_path):
    """A scan of the real light curves on two worker processes, stopped while they search: every
    process it started is gone within seconds. Loky's own workers, whose parent was killed,
    went on with the stars already queued to them; Ctrl-C reaches the whole process group, as
    from a terminal."""
    if usable_cores() < 2:
        pytest.skip("needs two usable cores for a pool of two workers")
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as sink:  # the scan writes through its own copy
        scan = subprocess.Popen(
            [sys.executable, "-m", "exohunt.cli", "scan", str(shared_data / "real_lightcurves"),
             "--n-jobs", "2", "--output", str(tmp_path / "candidates.csv"),
             "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
            stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(_pool_workers(scan.pid)) < 2 and scan.poll() is None:
            assert time.monotonic() < deadline, "the scan's two workers never started"
            time.sleep(0.1)
        assert scan.poll() is None, errors.read_text()
        time.sleep(1.0)  # the stars are queued to them and being searched
        if how == "Ctrl-C":
            os.killpg(scan.pid, signal.SIGINT)
        else:
            scan.send_signal(getattr(signal, how))
        scan.wait(timeout=30)
        deadline = time.monotonic() + 15
        while (left := _pool_workers(scan.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"after {how}, the scan's workers are still running: {left}"
        if how == "Ctrl-C":  # the scan says so; a worker still starting may print its own
            assert "interrupted" in errors.read_text(), errors.read_text()
        else:  # the signal reached the scan alone
            assert "Traceback" not in errors.read_text(), errors.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(scan.pid, signal.SIGKILL)
