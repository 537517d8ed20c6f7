"""`exohunt sweep`: Optuna trials through the one training path, each a nested MLflow run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from exohunt.config import DataConfig, TrainConfig
from exohunt.errors import ConfigError
from exohunt.evaluate import split_by_star
from exohunt.tracking import make_tracker
from exohunt.train import load_data
from tests.pg import postgres  # noqa: F401  (a fixture)
from tests.support import seed_store

optuna = pytest.importorskip("optuna")

EXPERIMENT = "sweep-test"


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri, experiment=EXPERIMENT):
    client = _client(uri)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


@pytest.fixture(scope="module")
def mlruns(tmp_path_factory, empty_store) -> str:
    """One SQLite tracking store for this module's sweeps (each in its own experiment)."""
    return seed_store(empty_store, f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}")


@pytest.fixture(scope="module")
def sweep(koi_subset, mlruns, tmp_path_factory):
    """Three XGBoost trials into a fresh SQLite store, then the best retrained and registered."""
    from exohunt.services.sweep import run_sweep

    root = tmp_path_factory.mktemp("sweep")
    uri = mlruns
    config = TrainConfig(
        data=DataConfig(dataset=str(koi_subset)),
        model="xgboost",
        output=str(root / "best"),
        n_jobs=1,
    )
    tracker = make_tracker(True, uri, EXPERIMENT)
    return uri, config, run_sweep(config, 3, experiment_name=EXPERIMENT, tracker=tracker)


def test_one_parent_run_holds_a_nested_run_per_trial(sweep):
    uri, _, result = sweep
    runs = _runs(uri)
    (parent,) = [r for r in runs if r.data.tags.get("exohunt.kind") == "sweep"]
    trials = [r for r in runs if "optuna.trial" in r.data.tags]
    assert sorted(r.data.tags["optuna.trial"] for r in trials) == ["0", "1", "2"]
    assert result.trials == {"complete": 3, "pruned": 0, "fail": 0}
    for run in trials + [r for r in runs if r.info.run_id == result.final.run_id]:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
    for run in trials:
        assert {"max_depth", "learning_rate", "n_estimators"} <= set(run.data.params)
        assert "val_average_precision" in run.data.metrics


def test_the_best_trial_is_tagged_retrained_and_registered_as_champion(sweep):
    uri, _, result = sweep
    runs = _runs(uri)
    (parent,) = [r for r in runs if r.data.tags.get("exohunt.kind") == "sweep"]
    (best,) = [r for r in runs if r.data.tags.get("best_trial") == "true"]
    assert best.data.tags["optuna.trial"] == str(result.best_trial)
    assert result.best_value == max(t.value for t in result.study.trials)
    assert parent.data.metrics["best_val_average_precision"] == pytest.approx(result.best_value)
    assert parent.data.params["best_max_depth"] == str(result.best_params["max_depth"])
    version = _client(uri).get_model_version_by_alias(f"exohunt-{EXPERIMENT}", "champion")
    assert version.run_id == result.final.run_id
    assert result.registered.startswith(f"models:/exohunt-{EXPERIMENT}@champion")
    # the registered model is the best trial's settings, fitted the same way
    final_params = result.final.metadata["model_params"]
    assert final_params["max_depth"] == result.best_params["max_depth"]
    assert result.final.metrics["validation"]["average_precision"] == pytest.approx(
        result.best_value
    )


def test_trials_are_scored_on_validation_stars_and_never_see_the_test_split(sweep):
    from exohunt.services.sweep import run_sweep

    uri, config, result = sweep
    rows = load_data(config.data).labelled()
    y = rows.labels.astype(int)
    train_idx, test_idx = split_by_star(y, rows.groups, config.test_size, config.random_state)
    values = {str(t.number): t.value for t in result.study.trials}
    for run in (r for r in _runs(uri) if "optuna.trial" in r.data.tags):
        # the objective is the validation average precision the trial recorded ...
        assert run.data.metrics["val_average_precision"] == values[run.data.tags["optuna.trial"]]
        # ... measured on stars held out of the training split, which is all a trial fits on
        fitted_on = int(run.data.params["n_train_samples"]) + int(run.data.params["n_val_samples"])
        assert fitted_on == len(train_idx)

    # Wreck every feature of the test rows: the sweep must not notice.
    table = rows.table.copy()
    numeric = [c for c in table.columns if table[c].dtype.kind == "f"]
    table.loc[test_idx, numeric] = np.nan
    wrecked = replace(rows, table=table)
    again = run_sweep(config, 1, dataset=wrecked, retrain_best=False)
    assert again.study.trials[0].value == result.study.trials[0].value


def test_network_trials_are_pruned_on_their_validation_loss(koi_subset, mlruns, tmp_path):
    from exohunt.services.sweep import run_sweep

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name="prune", direction="maximize")
    good = dict(learning_rate=3e-3, batch_size=64, dropout=0.1, weight_decay=1e-5)
    study.enqueue_trial(good | dict(n_layers=2, first_layer_units=64))
    slow = dict(learning_rate=1e-4, batch_size=256, dropout=0.5, weight_decay=1e-2)
    study.enqueue_trial(slow | dict(n_layers=1, first_layer_units=32))
    uri = mlruns
    config = TrainConfig(data=DataConfig(dataset=str(koi_subset)), model="nn", epochs=6)
    result = run_sweep(
        config,
        2,
        storage=storage,
        study_name="prune",
        experiment_name="prune-test",
        tracker=make_tracker(True, uri, "prune-test"),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
        retrain_best=False,
    )
    states = [t.state for t in optuna.load_study(study_name="prune", storage=storage).trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert result.trials == {"complete": 1, "pruned": 1, "fail": 0}
    pruned = [r for r in _runs(uri, "prune-test") if r.data.tags.get("optuna.state") == "PRUNED"]
    assert len(pruned) == 1 and pruned[0].info.status == "FINISHED"

    # a worker with other settings may not join: its scores would not compare
    with pytest.raises(ConfigError, match="study 'prune' was made with exohunt.model 'nn'"):
        run_sweep(replace(config, model="random_forest"), 1, storage=storage, study_name="prune")


WORKER = textwrap.dedent(
    """
    import sys
    from exohunt.config import DataConfig, TrainConfig
    from exohunt.services.sweep import run_sweep
    from exohunt.tracking import make_tracker

    data, storage, tracking, output = sys.argv[1:]
    config = TrainConfig(
        data=DataConfig(dataset=data), model="xgboost", n_jobs=1, output=output
    )
    tracker = make_tracker(True, tracking, "shared-test")
    result = run_sweep(
        config, 2, storage=storage, study_name="shared", experiment_name="shared-test",
        tracker=tracker,
    )
    print(result.trials, result.registered)
    """
)


def test_two_workers_share_one_postgres_study(postgres, koi_subset, tmp_path):  # noqa: F811
    from exohunt.tracking import init_server_store

    storage = postgres.create_database("optuna")
    # MLflow straight on PostgreSQL stands in for `exohunt server` here (it boots faster); the
    # schema is made once first, as the server does.
    tracking = postgres.create_database("mlflow")
    init_server_store(tracking, (tmp_path / "artifacts").as_uri())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(koi_subset), storage, tracking]
            + [str(tmp_path / f"best{i}")],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr[-3000:]
        assert "'complete': 2" in stdout
    study = optuna.load_study(study_name="shared", storage=storage)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 4
    assert len({t.user_attrs["worker"] for t in complete}) == 2
    client = _client(tracking)
    assert len(client.search_model_versions("name = 'exohunt-shared-test'")) == 2
    assert client.get_model_version_by_alias("exohunt-shared-test", "champion")


def test_a_model_without_a_search_space_or_no_trials_is_a_clear_error(koi_subset):
    from exohunt.services.sweep import run_sweep, search_space

    with pytest.raises(ConfigError, match="--trials 0 must be at least 1"):
        run_sweep(TrainConfig(data=DataConfig(dataset=str(koi_subset))), 0)
    with pytest.raises(ConfigError, match="unknown model 'svm'"):
        search_space("svm")
    assert {"n_layers", "first_layer_units", "learning_rate"} <= set(search_space("nn"))
