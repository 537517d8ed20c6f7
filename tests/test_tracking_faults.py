"""Tracking that survives its store: real faults injected into real processes, no mocks.

* the tracking server is SIGKILLed in the middle of `exohunt train --model nn` and started again
  on the same port and database (or not started again);
* the artifact storage is full (a 64 KiB tmpfs, as root) or read-only (chmod 0555, otherwise);
* another process holds a write lock on the SQLite store.

Training always keeps its model; what the store could not record is named in one line (exit 2)
and kept in ``tracking_unrecorded.json`` beside the model.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.pg import postgres  # noqa: F401  (a fixture)
from tests.support import descendants, free_port, seed_store

EXOHUNT = str(Path(sys.executable).parent / "exohunt")
EXPERIMENT = "faults"
HOLD_LOCK = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
    "c.execute('COMMIT')\n"
)


def _env(**extra) -> dict:
    env = dict(os.environ, EXOHUNT_TRACKING_SPARE="0", PYTHONUNBUFFERED="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env | {k: str(v) for k, v in extra.items()}


def _train(*argv, **env) -> subprocess.Popen:
    """`exohunt train ARGV` started; its messages go to ``process.err_path`` (read while it runs)."""
    handle, err_path = tempfile.mkstemp(prefix="exohunt-train-", suffix=".err")
    process = subprocess.Popen(
        [EXOHUNT, "-q", "train", *argv, "--experiment-name", EXPERIMENT],
        stdout=subprocess.PIPE,
        stderr=handle,
        text=True,
        env=_env(**env),
    )
    os.close(handle)
    process.err_path = Path(err_path)
    return process


def _finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, _ = process.communicate(timeout=timeout)
    err = process.err_path.read_text()
    process.err_path.unlink()
    return process.returncode, out, err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def _runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client, client.search_runs([experiment.experiment_id]) if experiment else []


# --------------------------------------------------------------------------- the server dies
def _start_server(database_uri: str, artifacts: Path, port: int) -> subprocess.Popen:
    """`python -m exohunt.services.server` in a session of its own (so that SIGKILL reaches
    MLflow's workers too), once it answers /health."""
    process = subprocess.Popen(
        [sys.executable, "-m", "exohunt.services.server", "--artifacts-destination", str(artifacts)]
        + ["--port", str(port), "--workers", "1"],
        env=dict(os.environ, MLFLOW_BACKEND_STORE_URI=database_uri),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.read() == b"OK":
                    return process
        except OSError:
            time.sleep(0.3)
        if process.poll() is not None:
            pytest.fail(f"exohunt server exited: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            _kill_server(process)
            pytest.fail("exohunt server did not answer /health within 120 s")


def _kill_server(process: subprocess.Popen) -> None:
    """SIGKILL the server and every process under it (MLflow runs in a session of its own),
    all at once, as a crash would; return once its port refuses connections."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2):
            return True
    except OSError:
        return False


def _running_run(base: str) -> bool:
    try:
        _, runs = _runs(base)
    except Exception:
        return False
    return any(r.info.status == "RUNNING" for r in runs)


@pytest.fixture
def server(postgres, tmp_path):  # noqa: F811
    """A fresh database and artifact folder; start(), kill() and the base URL."""
    database = postgres.create_database(f"faults_{os.getpid()}_{time.monotonic_ns()}")
    port = free_port()
    state = {}

    class Server:
        base = f"http://127.0.0.1:{port}"

        def start(self):
            state["process"] = _start_server(database, tmp_path / "artifacts", port)

        def kill(self):
            _kill_server(state.pop("process"))
            _wait_for(lambda: not _answers(self.base), 30, "the server's port to close")

    handle = Server()
    handle.start()
    yield handle
    if "process" in state:
        handle.kill()


EPOCHS = 40


def _train_through_an_outage(server, koi_subset, tmp_path, restart: bool, **env):
    """`exohunt train --model nn` with the server SIGKILLed once its run is open and, with
    ``restart``, started again once the model is saved locally (so the run's values are all
    logged while it is down)."""
    out = tmp_path / "model"
    process = _train(
        str(koi_subset), "--model", "nn", "--epochs", str(EPOCHS), "--n-jobs", "1",
        "--tracking-uri", server.base, "--output", str(out), **env,
    )  # fmt: skip
    _wait_for(lambda: _running_run(server.base) or process.poll() is not None, 90, "the run")
    assert process.poll() is None, _finish(process)
    server.kill()
    staged = out.with_name("model.partial") / "model.joblib"
    _wait_for(lambda: staged.exists() or process.poll() is not None, 90, "the saved model")
    if restart:  # once the worker has met the outage (it may still be importing torch)
        _wait_for(
            lambda: "; retrying" in process.err_path.read_text() or process.poll() is not None,
            300,  # a worker at low priority on a busy machine
            "the worker to retry",
        )
        server.start()
    return out, _finish(process, timeout=180)


def test_a_server_killed_mid_run_and_restarted_records_every_value(server, koi_subset, tmp_path):
    out, (code, stdout, err) = _train_through_an_outage(
        server, koi_subset, tmp_path, restart=True, EXOHUNT_TRACKING_RETRY_SECONDS=150
    )
    assert code == 0, err
    assert "; retrying" in err, err  # the outage was met, not missed
    assert (out / "model.joblib").is_file() and not (out / "tracking_unrecorded.json").exists()
    client, runs = _runs(server.base)
    (run,) = runs
    assert run.info.status == "FINISHED"
    losses = client.get_metric_history(run.info.run_id, "train_loss")  # early stopping: <= EPOCHS
    assert sorted(m.step for m in losses) == list(range(len(losses))) and len(losses) > 1
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == len(losses)
    assert {"average_precision", "val_average_precision", "duration_seconds"} <= set(
        run.data.metrics
    )
    assert run.data.params["model_type"] == "nn"
    logged = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "model_metadata.json", "plots"} <= logged


def test_a_server_that_stays_down_is_reported_in_one_line_and_kept_locally(
    server, koi_subset, tmp_path
):
    out, (code, stdout, err) = _train_through_an_outage(
        server, koi_subset, tmp_path, restart=False, EXOHUNT_TRACKING_RETRY_SECONDS=3
    )
    assert code == 2, err
    (line,) = _error_lines(err)
    assert "Traceback" not in err
    saved = out / "tracking_unrecorded.json"
    assert line.startswith("error: tracking: run ")
    assert "the server refuses connections" in line and f"a local copy is in {saved}" in line
    assert (out / "model.joblib").is_file()
    kept = json.loads(saved.read_text())
    losses = [m for m in kept["metrics"] if m["key"] == "train_loss"]
    assert [m["step"] for m in losses] == list(range(len(losses))) and len(losses) > 1
    assert kept["params"]["model_type"] == "nn" and kept["models"] == [str(out / "model.joblib")]
    assert str(out / "metrics.json") in kept["artifacts"]
    assert f"{kept['counts']['metric values']} metric values" in line
    # the server back later: the run is there, with what was logged before it went away
    server.start()
    _, (run,) = _runs(server.base)
    assert run.info.run_id == kept["run_id"] and "train_loss" not in run.data.metrics


# --------------------------------------------------------------------------- artifacts: full
@contextlib.contextmanager
def _unwritable(folder: Path):
    """``folder`` full (a 64 KiB tmpfs filled up, as root) or read-only (chmod 0555); yields
    what it is."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "read-only"
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs as root: {mounted.stderr.strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(filler, b"\0" * 4096)
        finally:
            os.close(filler)
        with pytest.raises(OSError) as full:
            (folder / "probe").write_bytes(b"\0" * 8192)
        assert full.value.errno == errno.ENOSPC
        yield "full"
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_full_or_read_only_artifact_storage_is_named_in_one_line_and_the_model_kept(
    koi_subset, tmp_path
):
    store = tmp_path / "store"
    out = tmp_path / "model"
    with _unwritable(store / "artifacts") as what:
        process = _train(
            str(koi_subset), "--tracking-uri", str(store), "--output", str(out), "--n-jobs", "1"
        )
        code, _, err = _finish(process)
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = _error_lines(err)
    problem = "No space left on device" if what == "full" else "Permission denied"
    assert problem in line and "artifacts" in line and "it is marked FAILED" in line
    assert (out / "model.joblib").is_file()
    kept = json.loads((out / "tracking_unrecorded.json").read_text())
    assert kept["models"] == [str(out / "model.joblib")]
    assert str(out / "metrics.json") in kept["artifacts"] and kept["metrics"] == []
    client, (run,) = _runs(f"sqlite:///{store / 'mlflow.db'}")
    assert run.info.status == "FAILED" and problem in run.data.tags["exohunt.error"]
    assert "average_precision" in run.data.metrics  # what the store could take, it has


# --------------------------------------------------------------------------- SQLite locked
@pytest.fixture
def sqlite_store(tmp_path, empty_store) -> tuple[Path, str]:
    from exohunt.tracking import prepare_store

    db = tmp_path / "store" / "mlflow.db"
    uri = seed_store(empty_store, f"sqlite:///{db}")
    prepare_store(uri, EXPERIMENT)
    return db, uri


@contextlib.contextmanager
def _locked(db: Path, seconds: float):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_a_store_locked_for_a_few_seconds_is_waited_for(sqlite_store, koi_subset, tmp_path):
    db, uri = sqlite_store
    with _locked(db, 8) as holder:
        started = time.monotonic()
        code, _, err = _finish(
            _train(str(koi_subset), "--tracking-uri", uri, "--output", str(tmp_path / "m"))
        )
        assert holder.poll() is not None or time.monotonic() - started < 8
    assert code == 0, err
    _, (run,) = _runs(uri)
    assert run.info.status == "FINISHED" and "average_precision" in run.data.metrics


def test_a_store_locked_too_long_is_reported_in_one_line(sqlite_store, koi_subset, tmp_path):
    db, uri = sqlite_store
    out = tmp_path / "m"
    with _locked(db, 55):
        started = time.monotonic()
        process = _train(
            str(koi_subset), "--tracking-uri", uri, "--output", str(out),
            EXOHUNT_TRACKING_RETRY_SECONDS=2,
        )  # fmt: skip
        code, _, err = _finish(process)
        waited = time.monotonic() - started
    assert code == 2, err
    assert waited < 50  # bounded: SQLite's busy timeout and the retry budget, not the lock
    assert "Traceback" not in err
    (line,) = _error_lines(err)
    assert "the SQLite database is locked by another process" in line
    assert "run (never created)" in line and (out / "model.joblib").is_file()
    assert f"a local copy is in {out / 'tracking_unrecorded.json'}" in line
