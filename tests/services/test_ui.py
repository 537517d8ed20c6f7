"""`exohunt ui`: a real MLflow server on the tracking store, checked over HTTP and in Chromium."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from exohunt.config import DataConfig, TrainConfig
from exohunt.tracking import make_tracker
from exohunt.train import train
from tests.support import free_port, require_system, seed_store


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


@pytest.fixture(scope="module")
def ui(tmp_path_factory, koi_subset, empty_store):
    """Three tracked runs in a fresh store, and `exohunt ui` serving it on a free port (started
    once the store is made, so that it starts up while the models train)."""
    root = tmp_path_factory.mktemp("ui")
    uri = seed_store(empty_store, f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    tracker = make_tracker(True, uri, "ui-test")
    experiment_id = tracker.experiment_id  # waits for the store and the experiment
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exohunt.cli",
            "ui",
            "--port",
            str(port),
            "--tracking-uri",
            uri,
            "--experiment-name",
            "ui-test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = {}  # run name -> run id
    try:
        for model in ("random_forest", "xgboost", "nn"):
            config = TrainConfig(
                data=DataConfig(dataset=str(koi_subset)),
                model=model,
                output=str(root / model),
                epochs=5,
            )
            result = train(config, tracker)
            runs[result.run_name] = result.run_id
    except BaseException:
        process.kill()
        process.wait()
        raise
    names = list(runs)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if _get(f"{base}/health") == b"OK":
                break
        except OSError:
            time.sleep(0.5)
        assert process.poll() is None, process.communicate()[1][-2000:]
    else:
        process.kill()
        pytest.fail("the MLflow UI did not answer /health within 180 s")
    yield base, names, process, experiment_id, runs
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_runs_are_served_over_the_rest_api(ui):
    base, names, _, experiment_id, _ = ui
    body = json.dumps({"experiment_ids": [experiment_id]}).encode()
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/runs/search",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        runs = json.loads(response.read())["runs"]
    assert sorted(r["info"]["run_name"] for r in runs) == sorted(names)
    assert {r["info"]["status"] for r in runs} == {"FINISHED"}


def _rendered(url: str, expected: list[str], profile) -> str:
    """The DOM headless Debian chromium renders for ``url`` (retried with more time while any of
    ``expected`` is missing: a loaded machine renders the React app slowly)."""
    chromium = require_system("chromium")
    dom = ""
    for budget in (15000, 40000):
        done = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        dom = done.stdout
        if all(text in dom for text in expected):
            break
    return dom


def test_the_runs_page_renders_the_run_names_in_chromium(ui, tmp_path):
    base, names, _, experiment_id, _ = ui
    dom = _rendered(f"{base}/#/experiments/{experiment_id}/runs", names, tmp_path / "profile")
    for name in names:
        assert name in dom, f"{name} not in the rendered runs page"


def test_the_network_run_page_shows_its_loss_series_in_chromium(ui, tmp_path):
    base, _, _, experiment_id, runs = ui
    name, run_id = next((n, r) for n, r in runs.items() if n.startswith("nn_"))
    url = f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
    expected = [name, "train_loss", "val_loss"]
    dom = _rendered(url, expected, tmp_path / "profile")
    for text in expected:
        assert text in dom, f"{text} not in the rendered page of run {name}"


def test_the_ui_prints_the_runs_page_and_stops_cleanly_on_ctrl_c(ui):
    base, _, process, experiment_id, _ = ui
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=180)  # a safety net, not a speed test
    assert process.returncode == 0, stderr[-2000:]
    assert f"{base}/#/experiments/{experiment_id}/runs" in stdout
    assert "MLflow UI stopped" in stdout
    assert "Traceback" not in stderr
    with pytest.raises(OSError):
        _get(f"{base}/health", timeout=2)


def test_ui_binds_to_localhost_by_default():
    from exohunt.cli import build_parser
    from exohunt.services.ui import ui_command

    args = build_parser().parse_args(["ui"])
    assert args.host == "127.0.0.1" and args.port == 5000
    command = ui_command(args.host, args.port, "sqlite:////tmp/x/mlflow.db")
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--default-artifact-root") + 1] == "file:///tmp/x/artifacts"
