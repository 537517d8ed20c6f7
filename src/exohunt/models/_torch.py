"""The training loop shared by exohunt's PyTorch networks, and their scikit-learn face.

:func:`fit_torch_classifier` trains any module that maps a float batch ``(n, n_features)`` to
class logits ``(n, n_classes)``: seeded shuffling, Adam, class-weighted cross-entropy, early
stopping on a validation loss with the best epoch's weights restored. :class:`TorchClassifierBase`
turns a module factory into a binary scikit-learn classifier; a network subclasses it, stores its
hyperparameters in ``__init__`` and implements ``_build_module(n_features)``. A network that reads
its input in another shape (a 1-D CNN over a light-curve view) reshapes the 2-D batch inside the
module, for example with ``torch.nn.Unflatten(1, (1, n_features))``.

torch is imported inside functions, so importing this module is cheap and a missing torch fails
only when a network is fitted or used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from exohunt.errors import optional_import
from exohunt.models.boosting import ProgressCallback, check_binary_target, check_eval_set

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: Rows per forward pass when predicting or computing the validation loss.
PREDICT_BATCH_SIZE = 8192


def import_torch():
    """Return the torch module; raises MissingDependencyError with the install command."""
    return optional_import("torch", "the neural-network models", extra="torch")


class TorchFitResult(NamedTuple):
    """What :func:`fit_torch_classifier` returns."""

    module: torch.nn.Module  # holding the best epoch's weights, in eval mode, on the CPU
    best_state: dict[str, torch.Tensor]
    history: dict[str, list[float]]  # "train_loss" and, with an eval_set, "val_loss"
    best_epoch: int  # 0-based


def fit_torch_classifier(
    module_factory: Callable[[int], torch.nn.Module],
    X: np.ndarray,
    y: np.ndarray,
    eval_set: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float = 0.0,
    patience: int | None = None,
    class_weight: np.ndarray | None = None,
    random_state: int = 0,
    progress: ProgressCallback | None = None,
    device: str = "cpu",
) -> TorchFitResult:
    """Build ``module_factory(n_features)`` and train it on ``X`` (n, n_features), ``y`` (0..k-1).

    Each epoch shuffles the rows with a generator seeded by ``random_state`` and takes Adam steps
    on the cross-entropy loss weighted by ``class_weight`` (one weight per class). A one-row tail
    batch is skipped, because BatchNorm cannot normalise a single row. ``train_loss`` is the mean
    loss over the epoch's batches (in training mode, with dropout). With
    ``eval_set=(X_val, y_val)`` the weighted loss on those rows is recorded as ``val_loss``;
    training stops once it has not improved for ``patience`` epochs (``None``: never) and the
    weights of the best epoch are restored. Without ``eval_set`` all ``epochs`` run and the last
    epoch's weights are kept.

    ``progress(epoch, logs)`` is called after every epoch with that epoch's losses.

    The module is built and trained inside :func:`torch.random.fork_rng`, seeded with
    ``random_state``, so the global torch random state is left untouched and the same seed and
    data give bitwise-identical weights on the CPU.
    """
    torch = import_torch()
    X_train = _as_tensor(torch, X, np.float32)
    y_train = _as_tensor(torch, y, np.int64)
    n_rows = len(X_train)
    if eval_set is not None:
        X_val = _as_tensor(torch, eval_set[0], np.float32)
        y_val = _as_tensor(torch, eval_set[1], np.int64)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    history: dict[str, list[float]] = {"train_loss": []}
    if eval_set is not None:
        history["val_loss"] = []

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        generator = torch.Generator().manual_seed(random_state)
        module = module_factory(X_train.shape[1]).to(device)
        if weight is not None:
            weight = weight.to(device)
        criterion = torch.nn.CrossEntropyLoss(weight=weight)
        optimizer = torch.optim.Adam(
            module.parameters(), lr=learning_rate, weight_decay=weight_decay
        )
        best_loss, best_epoch, best_state = float("inf"), -1, None
        for epoch in range(epochs):
            module.train()
            order = torch.randperm(n_rows, generator=generator)
            loss_sum, rows_seen = 0.0, 0
            for start in range(0, n_rows, batch_size):
                rows = order[start : start + batch_size]
                if len(rows) == 1 and n_rows > 1:
                    continue
                X_batch, y_batch = X_train[rows].to(device), y_train[rows].to(device)
                optimizer.zero_grad(set_to_none=True)
                loss = criterion(module(X_batch), y_batch)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(rows)
                rows_seen += len(rows)
            logs = {"train_loss": loss_sum / rows_seen}

            if eval_set is not None:
                logs["val_loss"] = _mean_loss(torch, module, X_val, y_val, weight, device)
                if logs["val_loss"] < best_loss:
                    best_loss, best_epoch = logs["val_loss"], epoch
                    best_state = _copy_state(module)
            for key, value in logs.items():
                history[key].append(value)
            if progress is not None:
                progress(epoch, dict(logs))
            if (
                eval_set is not None
                and patience is not None
                and best_state is not None
                and epoch - best_epoch >= patience
            ):
                logger.info(
                    "early stopping after %d of %d epochs; best epoch %d (val_loss %.4f)",
                    epoch + 1,
                    epochs,
                    best_epoch,
                    best_loss,
                )
                break

    if best_state is None:  # no eval_set, or the validation loss was never finite
        if eval_set is not None:
            logger.warning("validation loss was never finite; keeping the last epoch's weights")
        best_epoch, best_state = len(history["train_loss"]) - 1, _copy_state(module)
    module.load_state_dict(best_state)
    module.to("cpu").eval()
    best_state = {name: tensor.cpu() for name, tensor in best_state.items()}
    return TorchFitResult(module, best_state, history, best_epoch)


def predict_logits(module: torch.nn.Module, X: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Logits of ``module`` (in eval mode, without gradients) for rows ``X``, as float64."""
    torch = import_torch()
    X_all = _as_tensor(torch, X, np.float32)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            chunks = [
                module(X_all[start : start + PREDICT_BATCH_SIZE].to(device)).cpu()
                for start in range(0, len(X_all), PREDICT_BATCH_SIZE)
            ]
    finally:
        module.train(was_training)
    return torch.cat(chunks).double().numpy()


def _as_tensor(torch, array: Any, dtype: type) -> torch.Tensor:
    # A writable C-contiguous copy when needed: torch cannot wrap read-only (memmapped) arrays.
    return torch.from_numpy(np.require(array, dtype=dtype, requirements=["C", "W"]))


def _copy_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def _mean_loss(torch, module, X, y, weight, device) -> float:
    """Class-weighted mean cross-entropy over all rows, as CrossEntropyLoss would give in one batch."""
    module.eval()
    loss_sum, weight_sum = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(X), PREDICT_BATCH_SIZE):
            X_batch = X[start : start + PREDICT_BATCH_SIZE].to(device)
            y_batch = y[start : start + PREDICT_BATCH_SIZE].to(device)
            logits = module(X_batch)
            loss_sum += torch.nn.functional.cross_entropy(
                logits, y_batch, weight=weight, reduction="sum"
            ).item()
            weight_sum += float(len(y_batch) if weight is None else weight[y_batch].sum().item())
    return loss_sum / weight_sum


class TorchClassifierBase(ClassifierMixin, BaseEstimator):
    """Binary scikit-learn classifier around a PyTorch module trained by :func:`fit_torch_classifier`.

    Subclasses store, in ``__init__``, at least ``epochs``, ``batch_size``, ``learning_rate``,
    ``weight_decay``, ``patience``, ``random_state``, ``device`` and ``n_jobs`` (PyTorch's
    threads: :func:`exohunt.cores.torch_threads`), and implement
    ``_build_module(n_features)`` returning a module that maps ``(n, n_features)`` float32 batches
    to two logits. Fitted attributes: ``module_``, ``classes_``, ``n_features_in_``,
    ``class_weight_``, ``history_``, ``best_iteration_``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _build_module(self, n_features: int) -> torch.nn.Module:
        raise NotImplementedError

    def _check_params(self) -> None:
        """Raise ValueError naming the first invalid hyperparameter."""
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("batch_size", self.batch_size, minimum=2, why=" (BatchNorm needs two rows)")
        _check_positive("learning_rate", self.learning_rate)
        if not isinstance(self.weight_decay, Real) or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0; got {self.weight_decay!r}")
        if self.patience is not None:
            _check_int("patience", self.patience, minimum=1, allow_none=True)

    def fit(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None = None,
        progress: ProgressCallback | None = None,
    ):
        """Train on rows ``X`` and labels ``y``; ``eval_set=(X_val, y_val)`` only for early stopping.

        ``progress(epoch, logs)`` is called after each epoch with ``train_loss`` and
        ``val_loss``. Raises ValueError for invalid settings or data (including labels that are
        not exactly two classes), MissingDependencyError if torch is not installed.
        """
        _use_threads(import_torch(), getattr(self, "n_jobs", -1))
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float32)
        self.classes_, y_encoded = check_binary_target(y)
        if eval_set is not None:
            eval_set = check_eval_set(self, eval_set, self.classes_, dtype=np.float32)
        counts = np.bincount(y_encoded, minlength=2)
        self.class_weight_ = len(y_encoded) / (2 * counts)  # "balanced": n / (2 * n_class)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)

        result = fit_torch_classifier(
            self._build_module,
            X,
            y_encoded,
            eval_set,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            patience=self.patience,
            class_weight=self.class_weight_,
            random_state=int(seed),
            progress=progress,
            device=self.device,
        )
        self.module_ = result.module
        self.history_ = result.history
        self.best_iteration_ = result.best_epoch
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, 2), columns ordered as ``classes_``."""
        check_is_fitted(self, "module_")
        _use_threads(import_torch(), getattr(self, "n_jobs", -1))  # older models have no n_jobs
        X = validate_data(self, X, reset=False, dtype=np.float32)
        logits = predict_logits(self.module_, X)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The more probable class label for each row (probability threshold 0.5)."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


def _use_threads(torch, n_jobs: int | None) -> None:
    """Set PyTorch's intra-op threads from ``n_jobs`` (see :func:`exohunt.cores.torch_threads`)."""
    from exohunt.cores import torch_threads

    wanted = torch_threads(n_jobs)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def _check_int(
    name: str, value: Any, minimum: int, allow_none: bool = False, why: str = ""
) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{none}{why}; got {value!r}")


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, Real) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
