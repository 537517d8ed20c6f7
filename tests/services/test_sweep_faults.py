"""`exohunt sweep` through a PostgreSQL restart: two real worker processes share an Optuna study
on a real PostgreSQL, which is stopped (fast shutdown: every connection cut) while their trials
run and started again on the same data and port. No mocks.

The MLflow store is SQLite here, so that the one fault injected is the study's database going
away (tests/test_tracking_faults.py restarts a tracking server).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.pg import postgres_cluster, require_postgres

optuna = pytest.importorskip("optuna")

EXOHUNT = str(Path(sys.executable).parent / "exohunt")
EXPERIMENT = "sweep-faults"
STUDY = "restart"
TRIALS = 4  # per worker
RETRYING = "; retrying"  # what a worker logs when it meets the outage


@pytest.fixture
def cluster():
    """A PostgreSQL cluster of this test's own (it is stopped and started again)."""
    require_postgres()
    with postgres_cluster() as cluster:
        yield cluster


def start_worker(data: Path, storage: str, tracking: str, folder: Path, **env) -> subprocess.Popen:
    """`exohunt sweep` (XGBoost, TRIALS trials, no retraining) in a session of its own, so that
    the process and the tracking worker under it can be killed together; its messages go to
    ``process.err_path`` (read while it runs)."""
    handle, err_path = tempfile.mkstemp(prefix="exohunt-sweep-", suffix=".err", dir=folder)
    process = subprocess.Popen(
        [EXOHUNT, "sweep", str(data), "--model", "xgboost", "--trials", str(TRIALS)]
        + ["--storage", storage, "--study-name", STUDY, "--no-retrain", "--n-jobs", "1"]
        + ["--tracking-uri", tracking, "--experiment-name", EXPERIMENT],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=handle,
        text=True,
        env=dict(os.environ, EXOHUNT_TRACKING_SPARE="0", PYTHONUNBUFFERED="1")
        | {k: str(v) for k, v in env.items()},
        start_new_session=True,
    )
    os.close(handle)
    process.err_path = Path(err_path)
    return process


def finished_trials(worker: subprocess.Popen) -> int:
    return len(re.findall(r"^trial \d+: ", worker.err_path.read_text(), flags=re.M))


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill(worker: subprocess.Popen) -> None:
    """SIGKILL the worker's session (it and its tracking worker), if it still runs."""
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    worker.communicate()


def sweep_through_an_outage(
    cluster, data: Path, folder: Path, restart: bool = True, tracking: str | None = None, **env
):
    """Two workers on one study; PostgreSQL stopped once a trial has finished and, with
    ``restart``, started again once both workers have met the outage (or ended). ``tracking``
    defaults to a new SQLite store in ``folder``. Returns the workers' (exit code, stdout,
    stderr), the study's URI and the MLflow store's URI."""
    from exohunt.tracking import prepare_store

    storage = cluster.create_database("optuna")
    if tracking is None:
        tracking = f"sqlite:///{folder / 'mlflow.db'}"
        prepare_store(tracking, EXPERIMENT)
    workers = [start_worker(data, storage, tracking, folder, **env) for _ in range(2)]
    try:
        wait_for(
            lambda: (
                sum(map(finished_trials, workers)) >= 1
                or any(w.poll() is not None for w in workers)
            ),
            120,
            "a first trial",
        )
        cluster.halt()
        if restart:
            try:
                wait_for(
                    lambda: all(
                        RETRYING in w.err_path.read_text() or w.poll() is not None for w in workers
                    ),
                    30,
                    "both workers to meet the outage",
                )
            finally:
                cluster.resume()
        results = []
        for worker in workers:
            out, _ = worker.communicate(timeout=120)
            results.append((worker.returncode, out, worker.err_path.read_text()))
        return results, storage, tracking
    finally:
        for worker in workers:
            kill(worker)


def test_a_postgres_restart_mid_sweep_loses_and_doubles_no_trial(cluster, koi_subset, tmp_path):
    from mlflow.tracking import MlflowClient

    results, storage, tracking = sweep_through_an_outage(cluster, koi_subset, tmp_path)
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert RETRYING in err, err[-3000:]  # the outage was met, not missed
        assert "Traceback" not in err, err[-3000:]
        assert f"ran {TRIALS} trials: {TRIALS} complete, 0 pruned, 0 failed" in out, out

    study = optuna.load_study(study_name=STUDY, storage=storage)
    trials = study.get_trials(deepcopy=False)
    # exactly the trials asked for, each once, all finished
    assert sorted(t.number for t in trials) == list(range(2 * TRIALS))
    assert [t.state.name for t in trials] == ["COMPLETE"] * (2 * TRIALS)
    run_ids = [t.user_attrs["mlflow_run_id"] for t in trials]
    assert len(set(run_ids)) == len(trials)

    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    trial_runs = [r for r in runs.values() if "optuna.trial" in r.data.tags]
    assert sorted(r.info.run_id for r in trial_runs) == sorted(run_ids)  # no run left over
    for trial in trials:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.trial"] == str(trial.number)
        assert run.data.tags["optuna.state"] == "COMPLETE"
        assert run.data.metrics["val_average_precision"] == trial.value
    parents = [r for r in runs.values() if r.data.tags.get("exohunt.kind") == "sweep"]
    assert [r.info.status for r in parents] == ["FINISHED", "FINISHED"]
    assert sorted(r.data.metrics["trials_complete"] for r in parents) == [TRIALS, TRIALS]


def test_a_database_that_stays_down_is_reported_in_one_line(cluster, koi_subset, tmp_path):
    results, storage, _ = sweep_through_an_outage(
        cluster, koi_subset, tmp_path, restart=False, EXOHUNT_SWEEP_RETRY_SECONDS=2
    )
    shown = storage.replace(f":{cluster.password}@", ":***@")
    for code, _, err in results:
        assert code == 2, err[-3000:]
        (line,) = [line for line in err.splitlines() if line.startswith("error:")]
        assert re.fullmatch(
            rf"error: Optuna storage {re.escape(shown)}: the database [a-z ]+ "
            r"\(retried for \d+ s; start the database again and rerun this worker, or set "
            r"EXOHUNT_SWEEP_RETRY_SECONDS to wait longer\)",
            line,
        ), line
        assert "Traceback" not in err and cluster.password not in err, err[-3000:]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed:UserWarning")
def test_a_write_whose_answer_is_lost_is_not_made_twice(tmp_path):
    """The database commits a write and the connection drops before the answer arrives: the
    worker, trying again, finds the write made and does not make it again."""
    import sqlalchemy.exc

    from exohunt.services.sweep import open_study

    study = open_study(f"sqlite:///{tmp_path / 'optuna.db'}", "lost-answers")
    inner = study._storage._inner
    lost = sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))

    def answer_lost_once(method):
        calls = []

        def call(*args, **kwargs):
            calls.append(args)
            value = original(*args, **kwargs)
            if len(calls) == 1:
                raise lost
            return value

        original = getattr(inner, method)
        setattr(inner, method, call)

    answer_lost_once("create_new_trial")
    trial = study.ask()
    assert [t.number for t in study.trials] == [0] and trial.number == 0
    answer_lost_once("set_trial_state_values")
    study.tell(trial, 0.75)
    (done,) = study.trials
    assert done.state == optuna.trial.TrialState.COMPLETE and done.value == 0.75
