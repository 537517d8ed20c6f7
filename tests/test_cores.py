"""Workers follow the cores this process may use (its CPU affinity), not the machine's count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from exohunt.cores import n_workers, threads, torch_threads, usable_cores


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
