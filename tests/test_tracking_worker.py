"""The MLflow worker processes: warm spares between commands, and runs left open by a dead command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exohunt.tracking.worker import spare_path
from tests.support import session_processes


def _runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, order_by=["attributes.start_time ASC"])


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _spares(folder: Path) -> dict[int, str]:
    """The spare processes whose socket lives in ``folder``: pid -> command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "serve_spare" in cmdline and str(folder) in cmdline:
            found[int(proc.name)] = cmdline
    return found


def _spare_cmdlines(folder: Path) -> list[str]:
    return list(_spares(folder).values())


def _kill_spares(folder: Path) -> None:
    for pid in _spares(folder):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


@pytest.fixture
def spares(monkeypatch):
    """Spares on, their sockets in a private runtime folder (short: socket paths are limited to
    107 bytes); stopped after the test."""
    import shutil
    import tempfile

    runtime = Path(tempfile.mkdtemp(prefix="eh", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("EXOHUNT_TRACKING_SPARE", "1")
    monkeypatch.setenv("EXOHUNT_SPARE_IDLE_SECONDS", "120")
    yield runtime
    _kill_spares(runtime)
    shutil.rmtree(runtime, ignore_errors=True)


def _train(koi_subset: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "-q", "train", str(koi_subset), "--model", "xgboost"]
        + ["--output", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_command_leaves_a_warm_spare_that_the_next_command_uses(
    spares, store, koi_subset, tmp_path
):
    first = _train(koi_subset, tmp_path / "a")
    assert first.returncode == 0, first.stderr
    socket_path = spare_path(store)
    assert socket_path.parent.parent == spares
    _wait(socket_path.exists, 120, "the spare's socket")

    second = _train(koi_subset, tmp_path / "b")
    assert second.returncode == 0, second.stderr
    runs = _runs(store)
    assert [r.data.tags["exohunt.tracking.worker"] for r in runs] == ["cold", "warm"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    warm = runs[1]
    assert warm.data.params["model_type"] == "xgboost"
    assert warm.data.tags["git_commit"]  # the spare tags from the command's folder
    assert len(warm.inputs.dataset_inputs) == 1
    # the warm run is as complete as the cold one: same metrics, same artifacts
    assert set(warm.data.metrics) == set(runs[0].data.metrics)

    # the spare that served leaves another one behind
    _wait(socket_path.exists, 120, "the next spare")


def test_by_default_a_tracked_command_leaves_no_process_behind(
    store, koi_subset, tmp_path, monkeypatch
):
    """Spares are opt-in: without EXOHUNT_TRACKING_SPARE a command's worker ends with it."""
    import tempfile

    runtime = Path(tempfile.mkdtemp(prefix="eh", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("EXOHUNT_TRACKING_SPARE", raising=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "exohunt.cli", "-q", "train", str(koi_subset), "--model",
         "xgboost", "--output", str(tmp_path / "m")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    (run,) = _runs(store)
    assert run.info.status == "FINISHED" and run.data.tags["exohunt.tracking.worker"] == "cold"

    deadline = time.monotonic() + 10  # the worker may take a moment to exit after its command
    while session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_processes(process.pid) == []
    assert not spare_path(store).exists() and _spares(runtime) == {}


def test_an_idle_spare_exits(spares, store, monkeypatch):
    from exohunt.tracking.worker import start_spare

    monkeypatch.setenv("EXOHUNT_SPARE_IDLE_SECONDS", "1")  # read by the spare process at start
    path = spare_path(store)
    start_spare(store, path)
    _wait(path.exists, 120, "the spare's socket")
    # the store's URI (which may hold a password) is not on the spare's command line
    cmdlines = _spare_cmdlines(spares)
    assert cmdlines and all(store not in c for c in cmdlines)
    _wait(lambda: not path.exists(), 60, "the idle spare to go")


def test_spares_are_keyed_by_store_and_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/tmp")
    a = spare_path("sqlite:////x/mlflow.db")
    assert a == spare_path("sqlite:////x/mlflow.db")
    assert a != spare_path("sqlite:////y/mlflow.db")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert a != spare_path("sqlite:////x/mlflow.db")
    assert oct(a.parent.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_a_killed_command_leaves_its_run_failed_not_running(store, tmp_path, sig):
    """Killed, terminated or hung up on (a closed terminal), a training command leaves its run
    FAILED with what it logged, and no process behind: its worker notices and exits."""
    from exohunt.tracking import prepare_store

    prepare_store(store, "exoplanet-detection")
    process = subprocess.Popen(
        [sys.executable, "-m", "exohunt.cli", "-q", "train", "--model", "nn", "--cv", "10"]
        + ["--output", str(tmp_path / "o")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait(
            lambda: (runs := _runs(store)) and runs[0].inputs.dataset_inputs,
            180,
            "the run to start",
        )
        assert process.poll() is None, "training ended before it could be killed"
    finally:
        process.send_signal(sig)  # no chance to clean up: the worker must notice
        process.wait()
    run = _wait(
        lambda: next((r for r in _runs(store) if r.info.status != "RUNNING"), None),
        60,
        "the worker to close the run",
    )
    assert run.info.status == "FAILED"
    assert "ended before its run did" in run.data.tags["exohunt.error"]
    assert len(run.inputs.dataset_inputs) == 1  # what was logged stays
    _wait(lambda: not session_processes(process.pid), 30, "every process of the command to exit")


def test_calls_after_a_failed_open_fail_with_its_error(tmp_path):
    """The worker's loop on a store it cannot open: every later call fails with the open's own
    error, not "NoneType has no start_run". Run in a fresh interpreter: the errors cross a pipe
    pickled, by class name, so the check must not depend on what earlier tests imported."""
    script = f"""
import io
from exohunt.errors import ExohuntError
from exohunt.tracking.worker import receive, send, serve

requests, replies = io.BytesIO(), io.BytesIO()
send(requests, ("open", ("nosuchscheme://x", "x", {str(tmp_path)!r}), {{}}))
send(requests, ("start_run", ("r", False, None), {{}}))
send(requests, ("run_id", (), {{}}))
requests.seek(0)
serve(requests, replies, kind="cold")
replies.seek(0)
opened, started, run_id = receive(replies), receive(replies), receive(replies)
assert not opened[0] and isinstance(opened[1], ExohuntError), opened
assert "cannot use the tracking store nosuchscheme://x" in str(opened[1])
for ok, error in (started, run_id):
    assert not ok and type(error) is type(opened[1]) and str(error) == str(opened[1]), error
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr


def test_a_command_gone_mid_call_leaves_its_run_failed_and_no_traceback(tmp_path):
    """The command dies while its worker is answering a call (Ctrl-C or kill between a call and
    its reply): the reply meets a closed pipe. The worker ends the run FAILED, keeps what was
    logged, and exits without a traceback on the command's terminal. Real pipes, in a fresh
    interpreter (the worker ignores SIGPIPE as Python does, so the write fails with EPIPE)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = f"""
import os, threading
from exohunt.tracking.worker import receive, send, serve

calls_in, calls_out = os.pipe()
replies_in, replies_out = os.pipe()
requests, replies = os.fdopen(calls_out, "wb"), os.fdopen(replies_in, "rb")

def command():
    send(requests, ("open", ({uri!r}, "gone", {str(tmp_path)!r}), {{}}))
    assert receive(replies)[0]
    send(requests, ("start_run", ("r", False, None), {{}}))
    assert receive(replies)[0]
    send(requests, ("log_params", ({{"kept": 1}},), {{}}))
    assert receive(replies)[0]
    replies.close()  # the command is gone: its next call is never answered
    send(requests, ("log_params", ({{"late": 2}},), {{}}))
    requests.close()

thread = threading.Thread(target=command)
thread.start()
serve(os.fdopen(calls_in, "rb"), os.fdopen(replies_out, "wb"), kind="cold")
thread.join()
print("served")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0 and done.stdout.strip() == "served", done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    (run,) = _runs(uri)
    assert run.info.status == "FAILED"
    assert "ended before its run did" in run.data.tags["exohunt.error"]
    assert run.data.params["kept"] == "1"
