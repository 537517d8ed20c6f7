"""TorchCNNClassifier: the 1-D CNN over AstroNet views, on synthetic views and real TESS views."""

from __future__ import annotations

import pickle
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

torch = pytest.importorskip("torch")

from exohunt.errors import DataError  # noqa: E402
from exohunt.models import get_model, make_estimator  # noqa: E402
from exohunt.models.torch_cnn import TorchCNNClassifier, ViewsRequiredError  # noqa: E402

GLOBAL_BINS, LOCAL_BINS = 201, 61
#: A small network for fast tests, on views of the real size.
SMALL = {
    "global_channels": (4, 8),
    "local_channels": (4,),
    "dense_layers": (16,),
    "epochs": 12,
    "batch_size": 32,
}


def make_views(n: int, seed: int, n_scalars: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``n_scalars`` scalar columns, then a global (201 bins) and a local (61 bins) view.

    Planets (1, a third of the rows) have a flat-bottomed box transit; the others a V-shaped
    eclipse of the same depth plus a shallow secondary eclipse at phase 0.5, as an eclipsing binary
    would. Views are normalised as AstroNet's: median 0, depth -1, with noise. The scalar columns
    are noise of large offset and scale (as depths in ppm are), so they must be standardised.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 1 / 3).astype(int)

    def transit(bins: int, half_width: np.ndarray, box: np.ndarray) -> np.ndarray:
        x = np.abs(np.arange(bins) - bins // 2)[None, :] / half_width[:, None]
        v_shape = -np.clip(1 - x, 0, None)
        box_shape = -(x < 1).astype(float)
        return np.where(box[:, None], box_shape, v_shape)

    width = rng.uniform(0.7, 1.3, n)
    global_view = transit(GLOBAL_BINS, 6 * width, y == 1)
    secondary = np.abs(np.arange(GLOBAL_BINS) - GLOBAL_BINS // 2) > GLOBAL_BINS // 2 - 6
    global_view[:, secondary] -= 0.3 * (y == 0)[:, None]
    local_view = transit(LOCAL_BINS, 15 * width, y == 1)
    noise = 0.15
    global_view += rng.normal(0, noise, global_view.shape)
    local_view += rng.normal(0, noise, local_view.shape)
    scalars = 5000 + 1000 * rng.normal(size=(n, n_scalars))
    return np.hstack([scalars, global_view, local_view]).astype(np.float32), y


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these networks are small, and test workers share the CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    X, y = make_views(700, seed=0)
    return {
        "train": (X[:400], y[:400]),
        "val": (X[400:550], y[400:550]),
        "test": (X[550:], y[550:]),
    }


@pytest.fixture(scope="module")
def fitted(data):
    return TorchCNNClassifier(**SMALL).fit(*data["train"], eval_set=data["val"])


def test_learns_box_transits_from_v_shaped_eclipses(fitted, data):
    X_test, y_test = data["test"]
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.95
    assert set(fitted.predict(X_test)) <= {0, 1}
    assert fitted.n_features_in_ == 2 + GLOBAL_BINS + LOCAL_BINS
    assert fitted.n_scalar_features_ == 2


def test_learns_from_the_scalar_columns_alone():
    """Views of pure noise; the label is in a scalar column of huge offset and scale."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    scalars = np.column_stack([1e6 + 2e4 * y + 1e4 * rng.normal(size=500), rng.normal(size=500)])
    views = rng.normal(0, 0.1, (500, GLOBAL_BINS + LOCAL_BINS))
    X = np.hstack([scalars, views])
    model = TorchCNNClassifier(**SMALL, log_scalars=False).fit(X[:400], y[:400])
    assert roc_auc_score(y[400:], model.predict_proba(X[400:])[:, 1]) > 0.9


@pytest.mark.parametrize("log_scalars", [True, False])
def test_scalars_are_standardised_with_training_statistics(data, log_scalars):
    X, y = data["train"]
    X = X.copy()
    X[:, 1] = 7.0  # a constant column: scale 1, not 0
    model = TorchCNNClassifier(**{**SMALL, "epochs": 1}, log_scalars=log_scalars).fit(X, y)
    scalars = X[:, :2].astype(float)
    if log_scalars:
        scalars = np.log1p(scalars)
    np.testing.assert_allclose(model.scalar_mean_, scalars.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(model.scalar_scale_, [scalars[:, 0].std(), 1.0], rtol=1e-5)
    # the statistics travel with the network, so prediction needs nothing else
    np.testing.assert_allclose(model.module_.scalar_mean.numpy(), model.scalar_mean_, rtol=1e-6)
    np.testing.assert_allclose(model.module_.scalar_scale.numpy(), model.scalar_scale_, rtol=1e-6)
    assert np.isfinite(model.predict_proba(X)).all()


def test_views_only_rows_have_no_scalars(data):
    X, y = data["train"]
    model = TorchCNNClassifier(**{**SMALL, "epochs": 2}).fit(X[:, 2:], y)
    assert model.n_scalar_features_ == 0
    assert model.scalar_mean_.shape == (0,)
    assert model.predict_proba(data["test"][0][:, 2:]).shape == (len(data["test"][0]), 2)


def test_default_network_is_astronet_like():
    model = TorchCNNClassifier(epochs=1).fit(*make_views(64, seed=2))
    nn = torch.nn
    net = model.module_

    def conv_widths(column):
        return [layer.out_channels for layer in column if isinstance(layer, nn.Conv1d)]

    assert conv_widths(net.global_column) == [16, 32, 64, 128]
    assert conv_widths(net.local_column) == [16, 32]
    assert sum(isinstance(layer, nn.MaxPool1d) for layer in net.global_column) == 4
    # 201 bins -> 101 -> 51 -> 26 -> 13 (x 128 filters); 61 -> 31 -> 16 (x 32); plus 2 scalars
    linear = [layer for layer in net.head if isinstance(layer, nn.Linear)]
    assert linear[0].in_features == 13 * 128 + 16 * 32 + 2
    assert [layer.out_features for layer in linear] == [128, 64, 2]
    assert not net.training


def test_astronet_blocks_have_two_convolutions():
    model = TorchCNNClassifier(**{**SMALL, "epochs": 1}, convs_per_block=2)
    model.fit(*make_views(64, seed=2))
    widths = [m.out_channels for m in model.module_.global_column if hasattr(m, "out_channels")]
    assert widths == [4, 4, 8, 8]


def test_too_few_columns_name_the_views_expected():
    X = np.zeros((20, 100))
    y = np.arange(20) % 2
    with pytest.raises(ViewsRequiredError, match=r"cnn needs AstroNet views \(global_view, local"):
        TorchCNNClassifier().fit(X, y)
    with pytest.raises(DataError, match=r"X has 100 feature\(s\); expected at least 262"):
        TorchCNNClassifier().fit(X, y)
    with pytest.raises(ValueError, match="use a .npz view archive"):
        TorchCNNClassifier().fit(X, y)


def test_without_eval_set_all_epochs_run(data):
    model = TorchCNNClassifier(**{**SMALL, "epochs": 3}).fit(*data["train"])
    assert list(model.history_) == ["train_loss"]
    assert len(model.history_["train_loss"]) == 3
    assert model.best_iteration_ == 2


def test_early_stopping_keeps_the_best_epoch(data):
    X, y = data["train"]
    X_val, y_val = data["val"]
    # Validation labels flipped: the better the network learns, the higher the validation loss.
    params = {**SMALL, "epochs": 30, "patience": 2}
    model = TorchCNNClassifier(**params).fit(X, y, eval_set=(X_val, 1 - y_val))
    history = model.history_
    epochs_run = len(history["train_loss"])
    assert len(history["val_loss"]) == epochs_run < 30
    assert model.best_iteration_ == int(np.argmin(history["val_loss"]))
    assert epochs_run == model.best_iteration_ + 2 + 1
    reference = TorchCNNClassifier(**{**params, "epochs": model.best_iteration_ + 1}).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X_val), reference.predict_proba(X_val))


def test_validation_loss_falls_while_learning(fitted):
    val_loss = fitted.history_["val_loss"]
    assert min(val_loss) < 0.5 * val_loss[0]
    assert fitted.best_iteration_ == int(np.argmin(val_loss))


def test_progress_is_called_every_epoch(data):
    calls = []
    model = TorchCNNClassifier(**{**SMALL, "epochs": 2}).fit(
        *data["train"], eval_set=data["val"], progress=lambda epoch, logs: calls.append(logs)
    )
    assert [logs["val_loss"] for logs in calls] == model.history_["val_loss"]


def test_same_seed_gives_identical_probabilities_and_leaves_global_rng_alone(fitted, data):
    state = torch.get_rng_state()
    again = TorchCNNClassifier(**SMALL).fit(*data["train"], eval_set=data["val"])
    assert torch.equal(torch.get_rng_state(), state)
    X_test = data["test"][0]
    np.testing.assert_array_equal(again.predict_proba(X_test), fitted.predict_proba(X_test))
    assert again.history_ == fitted.history_
    other = TorchCNNClassifier(**{**SMALL, "epochs": 2, "random_state": 7}).fit(*data["train"])
    assert not np.array_equal(other.predict_proba(X_test), fitted.predict_proba(X_test))


def test_reflection_changes_training_but_not_prediction(data):
    X, y = data["train"]
    plain = TorchCNNClassifier(**{**SMALL, "epochs": 2}, reflect_views=False).fit(X, y)
    reflected = TorchCNNClassifier(**{**SMALL, "epochs": 2}).fit(X, y)
    assert plain.history_ != reflected.history_
    # in eval mode the network reads the views as given: predicting twice agrees
    X_test = data["test"][0]
    np.testing.assert_array_equal(reflected.predict_proba(X_test), reflected.predict_proba(X_test))


def test_saved_model_loads_in_a_new_process(fitted, data, tmp_path):
    """The network class is made lazily; pickle must find it in a fresh interpreter."""
    path = tmp_path / "cnn.joblib"
    joblib.dump(fitted, path)
    X_test = data["test"][0]
    np.save(tmp_path / "X.npy", X_test)
    code = (
        "import sys, joblib, numpy as np; "
        "model = joblib.load(sys.argv[1]); "
        "np.save(sys.argv[3], model.predict_proba(np.load(sys.argv[2])))"
    )
    files = [str(path), str(tmp_path / "X.npy"), str(tmp_path / "p.npy")]
    subprocess.run([sys.executable, "-c", code, *files], check=True, capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), fitted.predict_proba(X_test))
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    assert loaded.history_ == fitted.history_


def test_clone_and_params_round_trip():
    model = TorchCNNClassifier(global_channels=(8,), dropout=0.1, epochs=7, patience=None)
    params = model.get_params()
    assert params["global_channels"] == (8,) and params["patience"] is None
    assert (params["global_bins"], params["local_bins"]) == (201, 61)
    copy = clone(model)
    assert copy.get_params() == params
    copy.set_params(epochs=3, learning_rate=0.01)
    assert (copy.epochs, copy.learning_rate, model.epochs) == (3, 0.01, 7)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"global_channels": ()}, "global_channels must be a non-empty sequence"),
        ({"local_channels": (8, -1)}, "local_channels must be a non-empty sequence"),
        ({"dense_layers": "64"}, "dense_layers must be a sequence of positive integers"),
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"convs_per_block": 0}, "convs_per_block must be an integer >= 1"),
        ({"global_bins": 0}, "global_bins must be an integer >= 1"),
        ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
        ({"batch_size": 1}, "batch_size must be an integer >= 2"),
    ],
)
def test_invalid_settings_are_named(data, params, match):
    with pytest.raises(ValueError, match=match):
        TorchCNNClassifier(**params).fit(*data["train"])


def test_importing_the_model_does_not_import_torch():
    code = "import sys, exohunt.models.torch_cnn; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_builds_the_network_for_views():
    spec = get_model("cnn")
    assert (spec.needs_views, spec.uses_validation, spec.scale_features) == (True, True, False)
    model = make_estimator("cnn", epochs=2, batch_size=16, learning_rate=0.01, random_state=3)
    assert isinstance(model, TorchCNNClassifier)
    assert (model.epochs, model.batch_size, model.learning_rate, model.random_state) == (
        2,
        16,
        0.01,
        3,
    )


@parametrize_with_checks(
    [
        TorchCNNClassifier(
            global_bins=1,
            local_bins=1,
            global_channels=(4,),
            local_channels=(4,),
            dense_layers=(8,),
            learning_rate=0.01,
            epochs=5,
            batch_size=16,
        )
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def views_subset(shared_data, tmp_path_factory):
    """600 real TESS views (100 PC, 500 EB or J) with every metadata array, as a .npz."""
    from tests.support import triage_subset

    return triage_subset(shared_data, tmp_path_factory.mktemp("views"), 100, 500)


def test_trains_end_to_end_on_real_views(views_subset, tmp_path):
    from exohunt.config import DataConfig, TrainConfig
    from exohunt.serving import MODEL_FILE
    from exohunt.train import load_data, train

    config = TrainConfig(
        data=DataConfig(dataset=str(views_subset)), model="cnn", epochs=3, output=str(tmp_path)
    )
    result = train(config)

    names = result.fitted.feature_names
    assert names[-62:-61] == ["global_200"] and names[-61] == "local_00" and names[-1] == "local_60"
    assert not {"tic_id", "toi_id", "row_id", "source_shard", "Disposition"} & set(names)
    assert result.fitted.pipeline.named_steps["scale"] == "passthrough"
    estimator = result.fitted.estimator
    assert estimator.n_scalar_features_ == len(names) - GLOBAL_BINS - LOCAL_BINS > 0
    assert len(result.fitted.history["val_loss"]) <= 3
    params = result.metadata["model_params"]
    assert (params["optimizer"], params["loss_function"]) == ("Adam", "CrossEntropyLoss")
    assert params["epochs"] == 3 and params["global_bins"] == GLOBAL_BINS
    assert 0 <= result.metrics["test"]["roc_auc"] <= 1

    model = joblib.load(tmp_path / MODEL_FILE)
    frame = load_data(config.data).to_frame().head(50)
    proba = model.predict_proba(frame)[:, 1]
    assert proba.shape == (50,) and np.isfinite(proba).all()


def test_train_on_a_catalogue_without_views_explains(koi_subset, tmp_path):
    from exohunt.config import DataConfig, TrainConfig
    from exohunt.train import train

    config = TrainConfig(
        data=DataConfig(dataset=str(koi_subset)), model="cnn", epochs=1, output=str(tmp_path)
    )
    with pytest.raises(DataError, match="cnn needs AstroNet views"):
        train(config)
