"""`exohunt ui` and `exohunt server` stop with everything they started, whatever stops them:
Ctrl-C, SIGTERM, SIGHUP (a closed terminal) or their own death (SIGKILL, so no clean-up runs).
Real processes, real signals: afterwards no process they started is left and the port is free
again."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.pg import postgres  # noqa: F401  (a fixture)
from tests.support import descendants, free_port, seed_store

EXOHUNT = [sys.executable, "-m", "exohunt.cli"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait_for(process: subprocess.Popen, url: str, seconds: float) -> bytes:
    """The body of ``url`` once it answers; fails if ``process`` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            assert process.poll() is None, (
                f"{shlex.join(process.args[3:5])} exited before answering"
            )
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"{url} did not answer within {seconds:g} s")
            time.sleep(0.3)


def _left_after(started: list[int], seconds: float = 30) -> list[int]:
    """Those of ``started`` still alive after up to ``seconds``; they are killed, so that they
    do not outlive the test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.2)
    left = [p for p in started if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def _stops_cleanly(process: subprocess.Popen, port: int, sig: int) -> None:
    started = descendants(process.pid)
    assert started
    process.send_signal(sig)
    process.wait(timeout=30)
    assert _left_after(started) == [], f"{signal.Signals(sig).name} left processes"
    assert _port_free(port)


@pytest.fixture(scope="module")
def platform_ok():
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_the_ui_stops_with_everything_it_started(platform_ok, tmp_path, empty_store, sig):
    port = free_port()
    uri = seed_store(empty_store, f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    process = subprocess.Popen(
        [*EXOHUNT, "ui", "--port", str(port), "--tracking-uri", uri],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(process, f"http://127.0.0.1:{port}/health", 90)
    assert 1 <= len(descendants(process.pid)) <= 2  # mlflow server and uvicorn: no job runner
    _stops_cleanly(process, port, sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_the_team_server_stops_with_everything_it_started(platform_ok, postgres, tmp_path, sig):  # noqa: F811
    uri = postgres.create_database(f"mlflow_{signal.Signals(sig).name.lower()}")
    port = free_port()
    process = subprocess.Popen(
        [*EXOHUNT, "server", "--port", str(port), "--workers", "1",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        env=dict(os.environ, MLFLOW_BACKEND_STORE_URI=uri),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_for(process, f"http://127.0.0.1:{port}/health", 180)
    _stops_cleanly(process, port, sig)


def test_experiments_ui_serves_the_runs_it_made_until_ctrl_c(
    platform_ok, koi_subset, tmp_path, empty_store
):
    """The original design's `run_mlflow.py --ui`: the runs, then the UI on them."""
    port = free_port()
    uri = seed_store(empty_store, f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    process = subprocess.Popen(
        [*EXOHUNT, "-q", "experiments", str(koi_subset), "--models", "rf",
         "--experiment-name", "with-ui", "--tracking-uri", uri, "--ui", "--port", str(port),
         "--output", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    search = "api/2.0/mlflow/experiments/get-by-name?experiment_name=with-ui"
    assert b"with-ui" in _wait_for(process, f"http://127.0.0.1:{port}/{search}", 180)
    started = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "registered: models:/exohunt-with-ui@champion" in out
    assert "MLflow UI: http://127.0.0.1" in out
    assert _left_after(started) == [] and _port_free(port)  # the tracking worker finishes too
