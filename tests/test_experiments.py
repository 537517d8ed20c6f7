"""`exohunt experiments`: models side by side on one split, the best one registered."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from exohunt.cli import main
from tests.support import free_port


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, koi_subset):
    """One `exohunt experiments` run (rf, xgb, nn) into a fresh store, as a user types it."""
    root = tmp_path_factory.mktemp("experiments")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "exohunt.cli",
            "experiments",
            "--dataset",
            str(koi_subset),
            "--models",
            "rf",
            "xgb",
            "nn",
            "--epochs",
            "10",
            "--experiment-name",
            "kepler-test",
            "--test-size",
            "0.3",
            "--random-state",
            "42",
            "--output",
            str(root / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env=os.environ | {"MLFLOW_TRACKING_URI": uri},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root, uri, done.stdout


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_one_parent_run_with_a_nested_child_per_model(experiment):
    _, uri, _ = experiment
    client = _client(uri)
    exp = client.get_experiment_by_name("kepler-test")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert {c.data.params["model_type"] for c in children} == {"random_forest", "xgboost", "nn"}
    # all children on the same split
    assert len({c.data.params["n_test_samples"] for c in children}) == 1
    assert {c.data.params["test_size"] for c in children} == {"0.3"}
    assert all(r.info.status == "FINISHED" for r in runs)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"comparison.csv", "comparison.md"} <= names


def test_the_best_model_by_average_precision_is_tagged_and_registered(experiment):
    root, uri, stdout = experiment
    client = _client(uri)
    table = pd.read_csv(root / "out" / "comparison.csv")
    assert list(table.columns) == [
        "model",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
        "mcc",
        "duration_seconds",
    ]
    best = table.sort_values("average_precision", ascending=False).iloc[0]["model"]
    assert f"best by average precision: {best}" in stdout
    version = client.get_model_version_by_alias("exohunt-kepler-test", "champion")
    run = client.get_run(version.run_id)
    assert run.data.params["model_type"] == best
    assert run.data.tags["best_model"] == "true"
    assert "models:/exohunt-kepler-test@champion" in stdout
    for model in table["model"]:
        assert model in stdout


def test_the_champion_scores_raw_rows_with_both_tools(
    experiment, koi_subset, tmp_path, monkeypatch, capsys
):
    root, uri, _ = experiment
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    raw = pd.read_csv(koi_subset, comment="#").tail(30)
    raw_csv = tmp_path / "raw.csv"
    raw.to_csv(raw_csv, index=False)

    preds_csv = tmp_path / "preds.csv"
    assert (
        main(
            [
                "predict",
                "models:/exohunt-kepler-test@champion",
                str(raw_csv),
                "--output",
                str(preds_csv),
            ]
        )
        == 0
    )
    ours = pd.read_csv(preds_csv)
    assert len(ours) == 30
    # the store the model came from, as every command prints it
    assert (
        f"model: models:/exohunt-kepler-test@champion (tracking: {uri})" in capsys.readouterr().out
    )

    out = tmp_path / "served.json"
    mlflow_cli = os.path.join(os.path.dirname(sys.executable), "mlflow")
    done = subprocess.run(
        [
            mlflow_cli,
            "models",
            "predict",
            "-m",
            "models:/exohunt-kepler-test@champion",
            "-i",
            str(raw_csv),
            "-t",
            "csv",
            "--env-manager",
            "local",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"MLFLOW_TRACKING_URI": uri},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    served = json.loads(out.read_text())["predictions"]
    assert np.allclose([p["planet_probability"] for p in served], ours["planet_probability"])


def test_mlflow_models_serve_scores_raw_csv_and_json_bodies(experiment, koi_subset, tmp_path):
    """The champion behind `mlflow models serve`, as the docs show it, answers raw KOI rows sent
    as CSV and as JSON, with the probabilities `exohunt predict` gives."""
    import signal
    import time
    import urllib.error
    import urllib.request

    root, uri, _ = experiment
    raw = pd.read_csv(koi_subset, comment="#").tail(12)
    raw_csv = tmp_path / "raw.csv"
    raw.to_csv(raw_csv, index=False)
    preds_csv = tmp_path / "preds.csv"
    env = os.environ | {"MLFLOW_TRACKING_URI": uri}
    args = ["predict", "models:/exohunt-kepler-test@champion", str(raw_csv)]
    done = subprocess.run(
        [sys.executable, "-m", "exohunt.cli", *args, "--output", str(preds_csv)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ours = pd.read_csv(preds_csv)["planet_probability"].to_numpy()

    port = free_port()
    bin_dir = os.path.dirname(sys.executable)  # as in an activated venv: MLflow execs uvicorn
    server = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", "models:/exohunt-kepler-test@champion"]
        + ["--env-manager", "local", "--port", str(port)],
        env=env | {"PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # uvicorn's workers go with it
    )
    base = f"http://127.0.0.1:{port}"

    def post(body: bytes, content_type: str) -> list[float]:
        request = urllib.request.Request(
            f"{base}/invocations", data=body, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            pytest.fail(f"{content_type}: HTTP {exc.code}: {exc.read()[:500]!r}")
        return [p["planet_probability"] for p in answer["predictions"]]

    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[1][-2000:]
                assert time.time() < deadline, "mlflow models serve did not answer within 180 s"
                time.sleep(0.5)
        from_csv = post(raw_csv.read_bytes(), "text/csv")
        split = json.loads(raw.to_json(orient="split", index=False))
        from_json = post(json.dumps({"dataframe_split": split}).encode(), "application/json")
        records = json.loads(raw.to_json(orient="records"))
        from_records = post(json.dumps({"dataframe_records": records}).encode(), "application/json")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert np.allclose(from_csv, ours) and np.allclose(from_json, ours)
    assert np.allclose(from_records, ours)
    assert len(ours) == 12
