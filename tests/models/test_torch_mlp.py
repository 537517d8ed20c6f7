"""TorchMLPClassifier and the shared torch training loop: learning, early stopping, determinism."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

torch = pytest.importorskip("torch")

from exohunt.errors import MissingDependencyError  # noqa: E402
from exohunt.models import make_estimator  # noqa: E402
from exohunt.models._torch import fit_torch_classifier  # noqa: E402
from exohunt.models.torch_mlp import TorchMLPClassifier  # noqa: E402

SMALL = {"hidden_layers": (16, 8), "epochs": 15, "batch_size": 32}

# The data, as code, so that a fresh interpreter can rebuild it bit for bit
# (test_same_probabilities_in_a_new_process).
DATA_CODE = """
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler
X, y = make_classification(n_samples=900, n_features=12, n_informative=6, n_redundant=2,
                           n_clusters_per_class=1, weights=[0.8, 0.2], class_sep=2.0,
                           random_state=0)
X = StandardScaler().fit_transform(X)
"""


@pytest.fixture(scope="module")
def data():
    """Imbalanced, well-separated, scaled data split into train, validation and test rows."""
    namespace: dict = {}
    exec(DATA_CODE, namespace)
    X, y = namespace["X"], namespace["y"]
    return {
        "train": (X[:600], y[:600]),
        "val": (X[600:750], y[600:750]),
        "test": (X[750:], y[750:]),
    }


def test_learns_a_separable_problem(data):
    model = TorchMLPClassifier(**SMALL).fit(*data["train"])
    X_test, y_test = data["test"]
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.97
    assert set(model.predict(X_test)) <= {0, 1}
    assert model.n_features_in_ == 12
    assert not hasattr(model, "feature_importances_")


def test_any_two_labels_become_classes_in_sorted_order(data):
    X, y = data["train"]
    labels = np.where(y == 1, "planet", "false positive")
    model = TorchMLPClassifier(**SMALL).fit(X, labels)
    assert model.classes_.tolist() == ["false positive", "planet"]
    predicted = model.predict(data["test"][0])
    assert set(predicted) <= {"false positive", "planet"}
    # column 1 of predict_proba is classes_[1]
    proba = model.predict_proba(data["test"][0])
    assert roc_auc_score(data["test"][1], proba[:, 1]) > 0.9


def test_network_has_the_original_architecture(data):
    model = TorchMLPClassifier(epochs=1).fit(*data["train"])
    nn = torch.nn
    kinds = [type(layer) for layer in model.module_]
    assert kinds == [nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Dropout] * 3 + [nn.Linear]
    widths = [layer.out_features for layer in model.module_ if isinstance(layer, nn.Linear)]
    assert widths == [128, 64, 32, 2]
    assert {layer.p for layer in model.module_ if isinstance(layer, nn.Dropout)} == {0.3}
    assert not model.module_.training


def test_without_eval_set_all_epochs_run(data):
    model = TorchMLPClassifier(**{**SMALL, "epochs": 4}).fit(*data["train"])
    assert list(model.history_) == ["train_loss"]
    assert len(model.history_["train_loss"]) == 4
    assert model.best_iteration_ == 3


def test_early_stopping_stops_when_validation_loss_rises_and_keeps_the_best_epoch(data):
    X, y = data["train"]
    X_val, y_val = data["val"]
    # Validation labels flipped: the better the network learns, the higher the validation loss.
    params = {**SMALL, "epochs": 50, "patience": 3}
    model = TorchMLPClassifier(**params).fit(X, y, eval_set=(X_val, 1 - y_val))

    history = model.history_
    epochs_run = len(history["train_loss"])
    assert len(history["val_loss"]) == epochs_run < 50
    assert model.best_iteration_ == int(np.argmin(history["val_loss"]))
    assert epochs_run == model.best_iteration_ + 3 + 1
    # The kept weights are the best epoch's: same as training exactly that many epochs.
    reference = TorchMLPClassifier(**{**params, "epochs": model.best_iteration_ + 1}).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X_val), reference.predict_proba(X_val))


def test_early_stopping_runs_to_the_end_while_validation_loss_falls(data):
    model = TorchMLPClassifier(**{**SMALL, "epochs": 6, "patience": 3})
    model.fit(*data["train"], eval_set=data["val"])
    assert len(model.history_["val_loss"]) == 6
    assert model.history_["val_loss"][-1] < model.history_["val_loss"][0]


def test_progress_is_called_every_epoch_with_the_losses(data):
    calls = []
    model = TorchMLPClassifier(**{**SMALL, "epochs": 3}).fit(
        *data["train"],
        eval_set=data["val"],
        progress=lambda epoch, logs: calls.append((epoch, logs)),
    )
    assert [epoch for epoch, _ in calls] == [0, 1, 2]
    assert [logs["train_loss"] for _, logs in calls] == model.history_["train_loss"]
    assert [logs["val_loss"] for _, logs in calls] == model.history_["val_loss"]
    pickle.dumps(model)  # the callback is not kept


def test_class_weights_are_balanced_on_the_training_labels(data):
    X, y = data["train"]
    model = TorchMLPClassifier(**{**SMALL, "epochs": 1}).fit(X, y)
    n_negative, n_positive = np.bincount(y)
    np.testing.assert_allclose(
        model.class_weight_, [len(y) / (2 * n_negative), len(y) / (2 * n_positive)]
    )
    assert model.class_weight_[1] > 1 > model.class_weight_[0]  # the rarer class weighs more


def test_class_weights_reach_the_loss():
    """With weights n/(2 n_c) a constant network scores both classes equally: loss log(2)."""
    X = np.zeros((40, 1), dtype=np.float32)
    y = np.array([0] * 30 + [1] * 10)
    weights = len(y) / (2 * np.bincount(y))

    def factory(n_features):
        return torch.nn.Linear(n_features, 2, bias=True)

    result = fit_torch_classifier(
        factory,
        X,
        y,
        (X, y),
        epochs=300,
        batch_size=40,
        learning_rate=0.05,
        class_weight=weights,
        random_state=0,
    )
    logits = result.module(torch.zeros(1, 1)).detach().numpy()[0]
    assert abs(logits[1] - logits[0]) < 0.05  # unweighted, it would learn log(30/10) = 1.1
    assert result.history["val_loss"][-1] == pytest.approx(np.log(2), abs=1e-3)


def test_same_seed_gives_identical_probabilities_and_leaves_global_rng_alone(data):
    state = torch.get_rng_state()
    first = TorchMLPClassifier(**SMALL).fit(*data["train"], eval_set=data["val"])
    second = TorchMLPClassifier(**SMALL).fit(*data["train"], eval_set=data["val"])
    assert torch.equal(torch.get_rng_state(), state)
    X_test = data["test"][0]
    np.testing.assert_array_equal(first.predict_proba(X_test), second.predict_proba(X_test))
    assert first.history_ == second.history_
    other = TorchMLPClassifier(**{**SMALL, "random_state": 7}).fit(*data["train"])
    assert not np.array_equal(first.predict_proba(X_test), other.predict_proba(X_test))


@pytest.mark.slow
def test_same_probabilities_in_a_new_process(data):
    script = DATA_CODE + textwrap.dedent(
        """
        from exohunt.models.torch_mlp import TorchMLPClassifier
        model = TorchMLPClassifier(hidden_layers=(16, 8), epochs=15, batch_size=32)
        model.fit(X[:600], y[:600], eval_set=(X[600:750], y[600:750]))
        print(model.predict_proba(X[750:]).tobytes().hex())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    model = TorchMLPClassifier(**SMALL).fit(*data["train"], eval_set=data["val"])
    assert out == model.predict_proba(data["test"][0]).tobytes().hex()


def test_a_one_row_tail_batch_is_skipped(data):
    X, y = data["train"]
    model = TorchMLPClassifier(hidden_layers=(8,), epochs=2, batch_size=16).fit(X[:33], y[:33])
    assert np.isfinite(model.history_["train_loss"]).all()


def test_clone_and_params_round_trip():
    model = TorchMLPClassifier(hidden_layers=(32,), dropout=0.1, epochs=7, patience=None)
    params = model.get_params()
    assert params["hidden_layers"] == (32,) and params["patience"] is None
    copy = clone(model)
    assert copy.get_params() == params
    copy.set_params(epochs=3, learning_rate=0.01)
    assert (copy.epochs, copy.learning_rate, model.epochs) == (3, 0.01, 7)


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_saved_model_predicts_identically(data, dump, tmp_path):
    model = TorchMLPClassifier(**{**SMALL, "epochs": 3}).fit(*data["train"])
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    X_test = data["test"][0]
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    assert loaded.history_ == model.history_


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"batch_size": 1}, "batch_size must be an integer >= 2"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"hidden_layers": (8, 0)}, "hidden_layers must be a sequence of positive integers"),
        ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
        ({"learning_rate": -1.0}, "learning_rate must be a positive number"),
        ({"patience": 0}, "patience must be an integer >= 1 or None"),
    ],
)
def test_invalid_settings_are_named(data, params, match):
    with pytest.raises(ValueError, match=match):
        TorchMLPClassifier(**params).fit(*data["train"])


def test_bad_targets_and_eval_sets_are_explained(data):
    X, y = data["train"]
    model = TorchMLPClassifier(**{**SMALL, "epochs": 1})
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        model.fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="Only one class is present"):
        model.fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="X has 5 features"):
        model.fit(X, y, eval_set=(X[:, :5], y))
    with pytest.raises(ValueError, match=r"eval_set labels \[2\] are not among"):
        model.fit(X, y, eval_set=(X, np.full(len(y), 2)))
    with pytest.raises(ValueError, match="eval_set must be a pair"):
        model.fit(X, y, eval_set=X)


def test_missing_torch_names_the_install_command(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'exohunt\[torch\]'"):
        TorchMLPClassifier().fit(*data["train"])


def test_importing_the_models_does_not_import_torch_or_xgboost():
    code = (
        "import sys, exohunt.models, exohunt.models.torch_mlp, exohunt.models.boosting; "
        "print(sorted({'torch', 'xgboost'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_builds_the_network(data):
    model = make_estimator("nn", epochs=2, random_state=3)
    assert isinstance(model, TorchMLPClassifier)
    assert (model.epochs, model.batch_size, model.random_state) == (2, 64, 3)
    assert isinstance(make_estimator("mlp"), TorchMLPClassifier)
    model.fit(*data["train"], eval_set=data["val"])
    assert len(model.history_["val_loss"]) == 2


@parametrize_with_checks([TorchMLPClassifier(hidden_layers=(8,), epochs=3, batch_size=16)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
