"""`exohunt server`: a real MLflow server on a real (throwaway) PostgreSQL, used over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from exohunt.config import DataConfig, TrainConfig
from exohunt.errors import ConfigError, ExohuntError
from exohunt.services.server import serve, server_command
from exohunt.train import load_data
from tests.pg import PASSWORD, postgres  # noqa: F401  (postgres is a fixture)
from tests.support import descendants, free_port

EXPERIMENT = "team-test"


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):  # noqa: F811
    """`python -m exohunt.services.server` on a fresh database; the URI (with its password) in the
    environment, as docs/team.md recommends."""
    uri = postgres.create_database("mlflow")
    artifacts = tmp_path_factory.mktemp("artifacts")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exohunt.services.server", "--artifacts-destination", str(artifacts)]
        + ["--port", str(port), "--workers", "1"],
        env=dict(os.environ, MLFLOW_BACKEND_STORE_URI=uri),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a loaded 2-core machine boots MLflow slowly
    while True:
        try:
            if _get(f"{base}/health") == b"OK":
                break
        except OSError:
            time.sleep(0.5)
        if process.poll() is not None:
            pytest.fail(f"exohunt server exited: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("exohunt server did not answer /health within 300 s")
    yield base, artifacts, process
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def champion(server, koi_subset, tmp_path_factory):
    """`exohunt experiments` (train + register) run against the server."""
    from exohunt.experiments import run_experiments
    from exohunt.tracking import make_tracker

    base, _, _ = server
    output = tmp_path_factory.mktemp("experiments")
    config = TrainConfig(data=DataConfig(dataset=str(koi_subset)), output=str(output), n_jobs=1)
    tracker = make_tracker(True, base, EXPERIMENT)
    result = run_experiments(config, ["random_forest"], EXPERIMENT, tracker)
    return result


def _runs(base: str) -> list[dict]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=base)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id])


def test_train_and_experiments_record_runs_and_register_through_the_server(server, champion):
    base, _, _ = server
    runs = _runs(base)
    assert len(runs) == 2  # the experiments parent and its random_forest child
    assert {r.info.status for r in runs} == {"FINISHED"}
    child = next(r for r in runs if r.data.params.get("model_type") == "random_forest")
    assert "average_precision" in child.data.metrics
    assert champion.registered.startswith(f"models:/exohunt-{EXPERIMENT}@champion")


def test_artifacts_go_through_the_server_to_the_destination(server, champion):
    base, artifacts, _ = server
    child = next(r for r in _runs(base) if r.data.params.get("model_type") == "random_forest")
    assert child.info.artifact_uri.startswith("mlflow-artifacts:/")
    stored = {p.name for p in Path(artifacts).rglob("*") if p.is_file()}
    assert {"model.joblib", "MLmodel", "metrics.json"} <= stored


def test_predict_loads_the_champion_through_the_server(server, champion, koi_subset):
    from exohunt.predict import load_model, predict

    base, _, _ = server
    loaded = load_model(f"models:/exohunt-{EXPERIMENT}@champion", base)
    table = predict(loaded, load_data(DataConfig(dataset=str(koi_subset))))
    assert len(table) == 1500 and set(table["predicted_label"]) <= {0, 1}


def test_the_password_is_never_shown(server, champion):
    base, _, process = server
    for run in _runs(base):
        recorded = json.dumps([run.data.params, run.data.tags, run.info.artifact_uri])
        assert PASSWORD not in recorded
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "mlflow" in args or "exohunt" in args:
            assert PASSWORD not in args, args


def test_ctrl_c_stops_the_server_cleanly_and_nothing_leaked(server):
    base, _, process = server
    started = descendants(process.pid)
    assert started  # the MLflow server it runs
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=180)  # a safety net, not a speed test
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in started):
        time.sleep(0.2)
    assert not [p for p in started if os.path.exists(f"/proc/{p}")], "Ctrl-C left processes"
    assert process.returncode == 0, stderr[-2000:]
    assert f"MLflow tracking server: {base}" in stdout
    assert "postgresql+psycopg2://exohunt:***@127.0.0.1" in stdout
    assert "MLflow server stopped" in stdout
    assert "Traceback" not in stderr
    assert PASSWORD not in stdout + stderr
    with pytest.raises(OSError):
        _get(f"{base}/health", timeout=2)


def test_a_wrong_password_is_one_line_without_the_password(postgres):  # noqa: F811
    uri = postgres.uri("postgres").replace(PASSWORD, "not-the-password")
    with pytest.raises(ExohuntError, match=r"password authentication failed .*PGPASSWORD") as err:
        serve(uri, port=free_port())
    assert "not-the-password" not in str(err.value) and "\n" not in str(err.value)


def test_postgres_down_is_one_line_naming_the_uri_and_the_fix(tmp_path):
    pytest.importorskip("psycopg2")
    port = free_port()
    uri = f"postgresql+psycopg2://bob:hunter2@127.0.0.1:{port}/mlflow"
    message = (
        rf"cannot connect to PostgreSQL at postgresql\+psycopg2://bob:\*\*\*@127\.0\.0\.1:{port}"
        r"/mlflow: connection refused \(start PostgreSQL or fix --backend-store-uri\)"
    )
    with pytest.raises(ExohuntError, match=message):
        serve(uri, str(tmp_path / "artifacts"), port=free_port())
    with pytest.raises(ConfigError, match="not a PostgreSQL URI"):
        serve("sqlite:///mlflow.db")


def test_a_tracking_server_that_is_down_is_one_line_and_does_not_hang(koi_subset, tmp_path):
    from exohunt.tracking import load_logged_model

    down = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "train", str(koi_subset)]
        + ["--tracking-uri", down, "--output", str(tmp_path / "model")],
        capture_output=True,
        text=True,
        timeout=120,  # MLflow's own retries would take minutes
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and down in lines[0]
    assert "connection refused" in lines[0].lower()
    with pytest.raises(
        ExohuntError, match=r"cannot reach the tracking server .*connection refused"
    ):
        load_logged_model("models:/exohunt-x@champion", tracking_uri=down)


def test_the_server_binds_localhost_and_keeps_the_password_off_its_command_line():
    command = server_command("postgresql+psycopg2://bob:s3cret@db:5432/mlflow", "/srv/artifacts")
    assert "s3cret" not in " ".join(command)
    assert command[command.index("--backend-store-uri") + 1] == (
        "postgresql+psycopg2://bob@db:5432/mlflow"
    )
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert "--serve-artifacts" in command
    assert command[command.index("--artifacts-destination") + 1] == "/srv/artifacts"
    assert int(command[command.index("--workers") + 1]) >= 1
