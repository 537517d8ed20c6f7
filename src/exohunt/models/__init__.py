"""One registry of models: name -> scikit-learn-compatible estimator.

Every model is fitted by :func:`exohunt.train.fit_pipeline`; nothing here knows about splits,
metrics or saving. Estimators that can use a validation set (early stopping) accept
``fit(X, y, eval_set=(X_val, y_val))`` and record ``history_`` (a dict of per-epoch or per-round
lists, for example ``{"train_loss": [...], "val_loss": [...]}``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exohunt.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """What the training path needs to know about one model."""

    name: str
    build: Callable[..., object]
    description: str
    aliases: tuple[str, ...] = ()
    uses_validation: bool = False  # fit() takes eval_set for early stopping
    needs_views: bool = False  # the estimator reads AstroNet views as 1-D sequences
    scale_features: bool = True  # False: the pipeline skips StandardScaler (the model scales)


def _random_forest(random_state: int = 42, n_jobs: int = -1, **_):
    from exohunt.models.forest import RandomForest

    # The original design's hyperparameters.
    return RandomForest(
        n_estimators=200,
        max_depth=20,
        min_samples_split=5,
        min_samples_leaf=2,
        class_weight="balanced",
        n_jobs=n_jobs,
        random_state=random_state,
    )


def _xgboost(random_state: int = 42, n_jobs: int = -1, **_):
    from exohunt.models.boosting import XGBoostClassifier

    return XGBoostClassifier(random_state=random_state, n_jobs=n_jobs)


def _network(class_path: str):
    """A registry builder for a torch network estimator (``module:Class``) with the shared
    settings ``--epochs``, ``--batch-size`` and ``--learning-rate``."""

    def build(
        random_state: int = 42,
        epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        n_jobs: int = -1,
        **_,
    ):
        import importlib

        module, name = class_path.split(":")
        cls = getattr(importlib.import_module(module), name)
        return cls(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            random_state=random_state,
            n_jobs=n_jobs,
        )

    return build


_nn = _network("exohunt.models.torch_mlp:TorchMLPClassifier")
_cnn = _network("exohunt.models.torch_cnn:TorchCNNClassifier")


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "random_forest",
            _random_forest,
            "Random Forest: 200 trees, depth 20, balanced class weights",
            aliases=("rf",),
        ),
        ModelSpec(
            "xgboost",
            _xgboost,
            "XGBoost: 200 rounds, depth 7, early stopping on validation logloss",
            aliases=("xgb",),
            uses_validation=True,
        ),
        ModelSpec(
            "nn",
            _nn,
            "PyTorch MLP 128-64-32 with BatchNorm and dropout, class-weighted loss",
            aliases=("mlp",),
            uses_validation=True,
        ),
        ModelSpec(
            "cnn",
            _cnn,
            "PyTorch 1-D CNN over the AstroNet global and local views plus scalar features",
            uses_validation=True,
            needs_views=True,
            scale_features=False,
        ),
    )
}


def model_names() -> list[str]:
    return list(REGISTRY)


def get_model(name: str) -> ModelSpec:
    """Look a model up by name or short name; raises ConfigError listing the choices."""
    key = name.strip().lower().replace("-", "_")
    for spec in REGISTRY.values():
        if key == spec.name or key in spec.aliases:
            return spec
    choices = ", ".join(
        f"{s.name} ({'/'.join(s.aliases)})" if s.aliases else s.name for s in REGISTRY.values()
    )
    raise ConfigError(f"unknown model '{name}'; choices are: {choices} (use --model)")


def make_estimator(name: str, **params):
    """A fresh, unfitted estimator for model ``name`` with the given settings."""
    return get_model(name).build(**params)
