"""MLflow tracking against a real SQLite store (and real `exohunt` processes where it matters)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from exohunt.config import DataConfig, TrainConfig
from exohunt.errors import DataError
from exohunt.tracking import (
    MlflowTracker,
    NullTracker,
    make_tracker,
    redact,
    resolve_tracking_uri,
)
from exohunt.tracking.store import prepare_store
from exohunt.train import train
from tests.pg import postgres  # noqa: F401  (a fixture)
from tests.support import seed_store

COMMON_PARAMS = {
    "model_type",
    "test_size",
    "random_state",
    "n_features",
    "n_train_samples",
    "n_test_samples",
    "flux_features_extracted",
    "output_path",
}
TEST_METRICS = {"accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "mcc"}


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri, experiment="exoplanet-detection"):
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def _exohunt(*args, env=None, cwd=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "exohunt.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        **kw,
    )


def test_store_resolution_order(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/env.db")
    assert resolve_tracking_uri() == "sqlite:////tmp/env.db"
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert resolve_tracking_uri(str(tmp_path / "elsewhere")).endswith("elsewhere/mlflow.db")


def test_redact_hides_passwords():
    assert redact("postgresql+psycopg2://bob:s3cret@db:5432/ml") == (
        "postgresql+psycopg2://bob:***@db:5432/ml"
    )
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


def test_disabled_tracking_is_the_null_tracker():
    assert isinstance(make_tracker(False), NullTracker)


@pytest.fixture(scope="module")
def tracked_rf(tmp_path_factory, koi_subset, empty_store):
    """One Random Forest trained with tracking (experiment "complete") into a store of its own:
    the tests that only read what a training run recorded share it."""
    root = tmp_path_factory.mktemp("tracked-rf")
    uri = seed_store(empty_store, f"sqlite:///{root / 'mlruns' / 'mlflow.db'}", root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(root)
        config = TrainConfig(data=DataConfig(dataset=str(koi_subset)), output=str(root / "rf"))
        result = train(config, make_tracker(True, experiment_name="complete"))
    return SimpleNamespace(uri=uri, result=result, output=root / "rf")


@pytest.fixture
def rf_store(tracked_rf, monkeypatch) -> str:
    """The store of ``tracked_rf`` as this test's tracking store (as the ``store`` fixture sets
    one), so that ``models:/`` URIs resolve in it."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracked_rf.uri)
    mlflow.set_tracking_uri(tracked_rf.uri)
    return tracked_rf.uri


def test_a_training_run_records_everything(rf_store, tracked_rf):
    result = tracked_rf.result
    client = _client(rf_store)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith("random_forest_")
    params = run.data.params
    assert COMMON_PARAMS <= set(params)
    assert {
        "n_estimators",
        "max_depth",
        "min_samples_split",
        "min_samples_leaf",
        "n_jobs",
        "class_weight",
    } <= set(params)
    assert params["n_estimators"] == "200" and params["max_depth"] == "20"
    metrics = run.data.metrics
    assert TEST_METRICS <= set(metrics)
    assert {f"val_{m}" for m in TEST_METRICS} <= set(metrics)
    assert metrics["average_precision"] == pytest.approx(
        result.metrics["test"]["average_precision"]
    )
    tags = run.data.tags
    assert tags["exohunt_version"] and tags["data_format"] == "koi"
    assert "git_commit" in tags  # the tests run inside the exohunt repository
    # dataset input, in the training context
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "koi_subset.csv" and inputs[0].dataset.digest
    assert inputs[0].tags[0].value == "training"
    # artifacts
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"metrics.json", "model_metadata.json", "plots"} <= names
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert plots == {
        "plots/roc_curve.png",
        "plots/pr_curve.png",
        "plots/confusion_matrix.png",
        "plots/feature_importance.png",
    }
    # both models, with signatures
    import mlflow

    native = mlflow.models.get_model_info(result.metadata["model_uris"]["native"])
    servable = mlflow.models.get_model_info(result.metadata["model_uris"]["servable"])
    assert "sklearn" in native.flavors and native.signature is not None
    assert "python_function" in servable.flavors and servable.signature is not None


def test_the_servable_model_scores_raw_rows(rf_store, tracked_rf, koi_subset, tmp_path):
    import mlflow

    from exohunt.io import read_dataset
    from exohunt.predict import load_model, predict

    uri = tracked_rf.result.metadata["model_uris"]["servable"]

    # raw rows as a user exports them: the archive's own column names (koi_period, ...)
    raw = pd.read_csv(koi_subset, comment="#").head(25)
    raw_csv = tmp_path / "raw.csv"
    raw.to_csv(raw_csv, index=False)
    scored = mlflow.pyfunc.load_model(uri).predict(raw)
    assert list(scored.columns) == ["planet_probability", "predicted_label"]
    assert len(scored) == 25

    local = predict(load_model(tracked_rf.output), read_dataset(raw_csv))
    assert np.allclose(scored["planet_probability"], local["planet_probability"])
    via_uri = predict(load_model(uri), read_dataset(raw_csv))
    assert np.allclose(via_uri["planet_probability"], local["planet_probability"])

    out = tmp_path / "served.json"
    mlflow_cli = os.path.join(os.path.dirname(sys.executable), "mlflow")
    done = subprocess.run(
        [
            mlflow_cli,
            "models",
            "predict",
            "-m",
            uri,
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
    )
    assert done.returncode == 0, done.stderr[-2000:]
    predictions = json.loads(out.read_text())["predictions"]
    assert len(predictions) == 25
    served = np.array([p["planet_probability"] for p in predictions])
    assert np.allclose(served, local["planet_probability"])


def test_the_servable_signature_has_plain_column_types():
    """MLflow's scoring server reads a CSV body with the signature's pandas types, which exist
    for plain types only. A star id keeps the training catalogue's kind: numbers or text."""
    from exohunt.tracking.models import _servable_signature

    example = pd.DataFrame(
        {
            "kepid": np.array([10797460, 10811496], dtype=np.int64),
            "hostname": ["K2-18", "K2-3"],
            "orbital_period": [9.49, 19.9],
        }
    )
    output = pd.DataFrame({"planet_probability": [0.1, 0.9], "predicted_label": [0, 1]})
    schema = _servable_signature(example, output).inputs
    types = dict(zip(schema.input_names(), schema.pandas_types(), strict=True))
    assert types["kepid"] == np.dtype("int64") and types["hostname"] == np.dtype("O")
    assert types["orbital_period"] == types["koi_period"] == np.float64  # aliases too
    assert not any(spec.required for spec in schema.inputs)


def test_network_and_boosting_runs_log_per_epoch_series(store, koi_subset, tmp_path):
    tracker = make_tracker(True)
    data = DataConfig(dataset=str(koi_subset))
    nn = train(TrainConfig(data=data, model="nn", epochs=4, output=str(tmp_path / "nn")), tracker)
    xgb = train(TrainConfig(data=data, model="xgboost", output=str(tmp_path / "xgb")), tracker)
    client = _client(store)

    loss = client.get_metric_history(nn.run_id, "train_loss")
    val = client.get_metric_history(nn.run_id, "val_loss")
    assert [m.step for m in loss] == list(range(len(nn.fitted.history["train_loss"])))
    assert len(val) == len(loss) >= 1
    params = client.get_run(nn.run_id).data.params
    assert {
        "epochs",
        "batch_size",
        "learning_rate",
        "hidden_layers",
        "optimizer",
        "loss_function",
    } <= set(params)
    import mlflow

    native = nn.metadata["model_uris"]["native"]
    assert "pytorch" in mlflow.models.get_model_info(native).flavors
    _assert_native_model_scores(native, nn)

    rounds = client.get_metric_history(xgb.run_id, "val_logloss")
    assert len(rounds) == len(xgb.fitted.history["val_logloss"]) > 1
    params = client.get_run(xgb.run_id).data.params
    assert {
        "n_estimators",
        "max_depth",
        "learning_rate",
        "subsample",
        "colsample_bytree",
        "scale_pos_weight",
        "eval_metric",
    } <= set(params)
    native = xgb.metadata["model_uris"]["native"]
    assert "xgboost" in mlflow.models.get_model_info(native).flavors
    _assert_native_model_scores(native, xgb)


def _assert_native_model_scores(uri: str, result) -> None:
    """The native-flavor model loads with its own flavor and gives the fitted estimator's
    probabilities on the feature matrix of a few rows."""
    import mlflow

    from exohunt.io import read_dataset

    frame = read_dataset(result.metadata["input_csv"]).to_frame().iloc[:5]
    X = np.asarray(result.fitted.pipeline[:-1].transform(frame), dtype=np.float32)
    expected = result.fitted.estimator.predict_proba(X)
    flavors = mlflow.models.get_model_info(uri).flavors
    if "pytorch" in flavors:
        import torch

        module = mlflow.pytorch.load_model(uri)
        with torch.no_grad():
            logits = module(torch.from_numpy(X)).numpy()
        scored = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    else:
        scored = mlflow.xgboost.load_model(uri).predict_proba(X)
    np.testing.assert_allclose(scored, expected, atol=1e-5)


def test_cv_means_and_stds_are_logged(store, koi_subset, tmp_path):
    config = TrainConfig(data=DataConfig(dataset=str(koi_subset)), cv=3, output=str(tmp_path / "o"))
    result = train(config, make_tracker(True))
    metrics = _client(store).get_run(result.run_id).data.metrics
    assert {"cv_average_precision_mean", "cv_average_precision_std", "cv_mcc_mean"} <= set(metrics)


def test_a_failing_run_is_marked_failed_and_keeps_what_it_logged(store, koi_subset, tmp_path):
    # --cv larger than the number of planet stars fails after the run has started
    config = TrainConfig(data=DataConfig(dataset=str(koi_subset)), cv=400, output=str(tmp_path))
    with pytest.raises(DataError, match="--cv 400"):
        train(config, make_tracker(True))
    (run,) = _runs(store)
    assert run.info.status == "FAILED"
    assert "--cv 400" in run.data.tags["exohunt.error"]
    assert run.data.tags["data_format"] == "koi"  # logged before the failure, kept
    assert len(run.inputs.dataset_inputs) == 1


def test_ctrl_c_while_the_run_is_being_written_still_marks_it_killed(store, monkeypatch):
    """Ctrl-C that lands at the very end, while the run's records are flushed to the store, ends
    the run KILLED (not FAILED by its worker, as a command that vanished)."""
    tracker = make_tracker(True, experiment_name="late")
    flush = tracker.flush
    calls = []

    def interrupted_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            flush(*args, **kwargs)  # the records are written; the interrupt comes after
            raise KeyboardInterrupt
        return flush(*args, **kwargs)

    monkeypatch.setattr(tracker, "flush", interrupted_once)
    try:
        with pytest.raises(KeyboardInterrupt), tracker.run("late-ctrl-c"):
            tracker.log_metrics({"value": 1.0})
    finally:
        tracker.close()
    (run,) = _runs(store, "late")
    assert run.info.status == "KILLED"
    assert run.data.tags["exohunt.error"].startswith("interrupted")
    assert run.data.metrics["value"] == 1.0


def test_ctrl_c_marks_the_run_killed(store, tmp_path):
    env = os.environ | {"MLFLOW_TRACKING_URI": store, "PYTHONUNBUFFERED": "1"}
    # ten-fold CV of the network on the bundled table keeps the run busy for minutes
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exohunt.cli",
            "-q",
            "train",
            "--model",
            "nn",
            "--cv",
            "10",
            "--output",
            str(tmp_path / "o"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its processes are those of this session, orphans included
    )
    # "data: ..." comes just before the run opens. The command's own line, not the store: its
    # tracking worker yields the CPU to training and, on a busy machine, may record nothing
    # before the training ends.
    for line in process.stdout:
        if line.startswith("data: "):
            break
    time.sleep(2)  # inside cross-validation
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=180)  # a safety net, not a speed test
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    (run,) = _runs(store)
    assert run.info.status == "KILLED", stderr
    assert run.data.tags["exohunt.error"].startswith("interrupted")
    from tests.support import session_processes

    deadline = time.monotonic() + 30  # its tracking worker ends with it
    while session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_processes(process.pid) == []


def test_concurrent_trainings_on_a_fresh_store_all_succeed(tmp_path, koi_subset):
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    env = os.environ | {"MLFLOW_TRACKING_URI": uri}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exohunt.cli",
                "-q",
                "train",
                str(koi_subset),
                "--n-jobs",
                "1",
                "--random-state",
                str(seed),
                "--output",
                str(tmp_path / f"out{seed}"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    runs = _runs(uri)
    assert len(runs) == 4
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.data.params["random_state"] for r in runs) == ["0", "1", "2", "3"]


_LOG_SAME_DATASET = """
import pathlib, sys, time
import pandas as pd
from exohunt.tracking.backend import _MlflowBackend

uri, go, ready = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
backend = _MlflowBackend(uri, "shared")
backend.start_run("same-data", False, None)
table = pd.read_csv(sys.argv[4], comment="#")
ready.touch()
while not go.exists():
    time.sleep(0.002)
backend.log_dataset(table, sys.argv[4], labelled=False)
backend.end_run("FINISHED")
"""


def test_runs_logging_one_dataset_at_once_on_postgres_all_link_it(
    postgres,  # noqa: F811
    koi_subset,
    tmp_path,
):
    """Processes that log the same new dataset to one experiment at the same instant all
    insert it; the ones that lose the race must link the winner's row, not fail."""
    uri = postgres.create_database("mlflow")
    prepare_store(uri, "shared")
    go = tmp_path / "go"
    processes, readies = [], []
    for i in range(6):
        readies.append(tmp_path / f"ready{i}")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _LOG_SAME_DATASET,
                    uri,
                    *map(str, (go, readies[-1], koi_subset)),
                ],
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 300
    while not all(r.exists() for r in readies) and time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.05)
    go.touch()
    errors = [p.communicate(timeout=300)[1] for p in processes]
    for process, stderr in zip(processes, errors, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    runs = _runs(uri, "shared")
    assert len(runs) == 6
    assert {r.info.status for r in runs} == {"FINISHED"}
    digests = {d.dataset.digest for r in runs for d in r.inputs.dataset_inputs}
    assert len(digests) == 1
    assert all(len(r.inputs.dataset_inputs) == 1 for r in runs)


def test_without_mlflow_training_warns_once_and_still_writes_outputs(tmp_path, koi_subset):
    hide = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mlflow' or name.startswith('mlflow.'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from exohunt.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide, "train", str(koi_subset), "--output", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("pip install 'exohunt[mlflow]'") == 1
    assert (tmp_path / "o" / "model.joblib").is_file()
    assert (tmp_path / "o" / "metrics.json").is_file()
    assert not (tmp_path / "mlruns").exists()


def test_cli_train_prints_the_store_and_the_run(store, koi_subset, tmp_path):
    done = _exohunt(
        "train",
        str(koi_subset),
        "--experiment-name",
        "cli",
        "--output",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"tracking: {store}" in done.stdout
    runs = _runs(store, "cli")
    assert len(runs) == 1 and runs[0].info.run_id in done.stdout


def test_mlflow_tracker_on_an_unreachable_server_fails_clearly():
    from exohunt.errors import ExohuntError

    with pytest.raises(ExohuntError, match="cannot reach the tracking server"):
        MlflowTracker("http://127.0.0.1:9", "x")


# --------------------------------------------------------------------------- server access
@pytest.fixture
def auth_stub(monkeypatch, tmp_path):
    """A stand-in for a server running MLflow's basic-auth app: /health is open, each API path
    answers from ``routes`` (path -> (status, JSON body); 404 if absent), and ``headers`` keeps
    each request's Authorization. No MLFLOW_TRACKING_* credentials, no ~/.mlflow/credentials."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    for name in ("USERNAME", "PASSWORD", "TOKEN", "AUTH"):
        monkeypatch.delenv(f"MLFLOW_TRACKING_{name}", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    stub = SimpleNamespace(routes={}, headers=[])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            path = self.path.split("?")[0]
            stub.headers.append(self.headers.get("Authorization"))
            status, body = (200, {"status": "OK"}) if path == "/health" else (404, {})
            status, body = stub.routes.get(path, (status, body))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the loop's next poll: 0.5 s by default, after each of these tests
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    stub.uri = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield stub
    httpd.shutdown()
    httpd.server_close()


BY_NAME = "/api/2.0/mlflow/experiments/get-by-name"
CURRENT_USER = "/api/2.0/mlflow/users/current"
PERMISSION = "/api/3.0/mlflow/users/permissions/get"


def test_a_server_refusing_the_client_stops_the_tracker_at_once_with_the_fix(
    auth_stub, monkeypatch
):
    from exohunt.errors import TrackingError

    auth_stub.routes[BY_NAME] = (401, {})
    with pytest.raises(TrackingError) as refused:
        MlflowTracker(auth_stub.uri, "mine")  # before any worker starts
    assert str(refused.value) == (
        f"the tracking server at {auth_stub.uri} refused the request without valid credentials "
        "(HTTP 401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "carol")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "carol-s3cret-pw")
    with pytest.raises(TrackingError, match=r"HTTP 401 for user 'carol'\): check MLFLOW_") as bad:
        MlflowTracker(auth_stub.uri, "mine")
    assert "carol-s3cret-pw" not in str(bad.value)
    assert auth_stub.headers[-1].startswith("Basic ")  # the credentials MLflow would send


def test_a_user_without_edit_permission_is_stopped_before_any_work(auth_stub, monkeypatch):
    from exohunt.errors import TrackingError

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "bob-s3cret-pw")
    auth_stub.routes[BY_NAME] = (200, {"experiment": {"experiment_id": "7", "name": "alice"}})
    auth_stub.routes[CURRENT_USER] = (200, {"user": {"username": "bob", "is_admin": False}})
    auth_stub.routes[PERMISSION] = (200, {"allowed": False, "permission": "READ"})
    with pytest.raises(TrackingError) as refused:
        MlflowTracker(auth_stub.uri, "alice")
    assert str(refused.value) == (
        f"user 'bob' may not write to experiment 'alice' on the tracking server at "
        f"{auth_stub.uri} (HTTP 403; their permission is READ): ask its owner or an admin for "
        "EDIT permission on it, or use another --experiment-name"
    )
    auth_stub.routes[BY_NAME] = (403, {"error_code": "PERMISSION_DENIED"})  # NO_PERMISSIONS
    with pytest.raises(TrackingError, match="user 'bob' may not write to experiment 'alice'"):
        MlflowTracker(auth_stub.uri, "alice")


@pytest.mark.parametrize(
    "routes",
    [
        {},  # a new experiment: this user creates (and owns) it
        {BY_NAME: (200, {"experiment": {"experiment_id": "7"}})},  # no authentication
        {
            BY_NAME: (200, {"experiment": {"experiment_id": "7"}}),
            CURRENT_USER: (200, {"user": {"username": "root", "is_admin": True}}),
            PERMISSION: (200, {"permission": "READ"}),  # an admin may do everything anyway
        },
        {
            BY_NAME: (200, {"experiment": {"experiment_id": "7"}}),
            CURRENT_USER: (200, {"user": {"username": "bob", "is_admin": False}}),
            PERMISSION: (200, {"permission": "EDIT"}),
        },
    ],
)
def test_users_who_may_write_pass_the_access_check(auth_stub, routes):
    from exohunt.tracking import check_tracking_access

    auth_stub.routes.update(routes)
    check_tracking_access(auth_stub.uri, "mine")


def test_a_refusal_met_by_the_worker_is_worded_the_same_way(auth_stub):
    """The server's mind may change between the check and the worker's first call."""
    from exohunt.errors import TrackingError
    from exohunt.tracking.backend import _MlflowBackend

    auth_stub.routes[BY_NAME] = (401, "You are not authenticated.")  # as MLflow's app answers
    with pytest.raises(TrackingError, match=r"refused the request without valid credentials"):
        _MlflowBackend(auth_stub.uri, "mine")
    auth_stub.routes[BY_NAME] = (403, {"error_code": "PERMISSION_DENIED", "message": "no"})
    with pytest.raises(TrackingError, match="may not write to experiment 'mine'.*HTTP 403"):
        _MlflowBackend(auth_stub.uri, "mine")
