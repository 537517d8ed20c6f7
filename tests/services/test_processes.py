"""`exohunt ui` and `exohunt server` stop with everything they started, whatever stops them:
Ctrl-C, SIGTERM, SIGHUP (a closed terminal) or their own death (SIGKILL, so no clean-up runs). Real processes, real signals:
afterwards no process it started is left and the port is free again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.pg import postgres  # noqa: F401  (a fixture)
from tests.support import descendants, free_port


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _start_ui(tmp_path, port: int) -> subprocess.Popen:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "exohunt.cli", "ui", "--port", str(port), "--tracking-uri", uri],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            assert process.poll() is None, "exohunt ui exited before it answered"
            time.sleep(0.3)
    process.kill()
    pytest.fail("exohunt ui did not answer within 90 s")


@pytest.fixture(scope="module")
def platform_ok():
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_the_ui_stops_with_everything_it_started(platform_ok, tmp_path, sig):
    port = free_port()
    process = _start_ui(tmp_path, port)
    started = descendants(process.pid)
    assert 1 <= len(started) <= 2  # mlflow server and its uvicorn: no job runner
    process.send_signal(sig)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.2)
    left = [p for p in started if _alive(p)]
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"{signal.Signals(sig).name} left processes {left}"
    assert _port_free(port)


def test_experiments_ui_serves_the_runs_it_made_until_ctrl_c(platform_ok, koi_subset, tmp_path):
    """The original design's `run_mlflow.py --ui`: the runs, then the UI on them."""
    port = free_port()
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "exohunt.cli", "-q", "experiments", str(koi_subset), "--models",
         "rf", "--experiment-name", "with-ui", "--tracking-uri", uri, "--ui", "--port", str(port),
         "--output", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            search = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=with-ui"
            with urllib.request.urlopen(search, timeout=2) as response:
                assert b"with-ui" in response.read()
                break
        except OSError:
            assert process.poll() is None, "exohunt experiments --ui exited"
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the UI did not answer")
    started = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "registered: models:/exohunt-with-ui@champion" in out
    assert "MLflow UI: http://127.0.0.1" in out
    deadline = time.monotonic() + 30  # the tracking worker finishes its last writes
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.2)
    assert not [p for p in started if _alive(p)] and _port_free(port)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_the_team_server_stops_with_everything_it_started(platform_ok, postgres, tmp_path, sig):  # noqa: F811
    uri = postgres.create_database(f"mlflow_{signal.Signals(sig).name.lower()}")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exohunt.cli", "server", "--port", str(port), "--workers", "1",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        env=dict(os.environ, MLFLOW_BACKEND_STORE_URI=uri),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                break
        except OSError:
            assert process.poll() is None, "exohunt server exited before it answered"
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("exohunt server did not answer within 180 s")
            time.sleep(0.3)
    started = descendants(process.pid)
    assert started
    process.send_signal(sig)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.2)
    left = [p for p in started if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"{signal.Signals(sig).name} left processes {left}"
    assert _port_free(port)
