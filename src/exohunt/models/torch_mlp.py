"""A multi-layer perceptron in PyTorch, as a scikit-learn classifier.

The original design's network: hidden blocks of Linear -> ReLU -> BatchNorm1d -> Dropout
(128, 64 and 32 units), a final Linear layer giving two logits, Adam, and cross-entropy weighted
by the inverse class frequency of the training labels. Training is done by
:func:`exohunt.models._torch.fit_torch_classifier`; torch is imported only when the network is
built, trained or used.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING

from exohunt.models._torch import TorchClassifierBase, import_torch

if TYPE_CHECKING:
    import torch


class TorchMLPClassifier(TorchClassifierBase):
    """Fully connected network for binary classification of tabular features.

    Expects dense features already imputed and scaled (the pipeline does both).

    Parameters
    ----------
    hidden_layers : sequence of int, default=(128, 64, 32)
        Units of each hidden block (Linear -> ReLU -> BatchNorm1d -> Dropout); empty gives a
        logistic regression.
    dropout : float, default=0.3
        Dropout probability after each hidden block.
    learning_rate : float, default=1e-3
        Adam step size.
    weight_decay : float, default=0.0
        Adam L2 penalty.
    epochs : int, default=50
        Maximum number of passes over the training rows.
    batch_size : int, default=64
        Rows per Adam step; at least 2.
    patience : int or None, default=10
        With ``fit(..., eval_set=...)``, stop after this many epochs without a lower validation
        loss and keep the best epoch's weights. ``None`` never stops early.
    random_state : int, RandomState or None, default=42
        Seeds weight initialisation, shuffling and dropout; a fixed int gives bitwise-identical
        results on the CPU.
    device : str, default="cpu"
        torch device used for training; the fitted module is kept on the CPU.
    n_jobs : int or None, default=-1
        PyTorch's threads: 1 by default (fastest on a busy machine, see
        :func:`exohunt.cores.torch_threads`); a positive number asks for that many.

    Attributes
    ----------
    module_ : torch.nn.Sequential
        The trained network (best epoch), in eval mode.
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    class_weight_ : ndarray of shape (2,)
        Loss weight of each class in ``classes_`` order: n_rows / (2 * n_rows_of_class).
    history_ : dict of str to list of float
        Per-epoch ``train_loss`` and, with ``eval_set``, ``val_loss``.
    best_iteration_ : int
        0-based epoch whose weights are kept.
    """

    def __init__(
        self,
        hidden_layers: Sequence[int] = (128, 64, 32),
        dropout: float = 0.3,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 50,
        batch_size: int = 64,
        patience: int | None = 10,
        random_state: int | None = 42,
        device: str = "cpu",
        n_jobs: int | None = -1,
    ):
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        super()._check_params()
        layers = self.hidden_layers
        if (
            isinstance(layers, (str, bytes))
            or not isinstance(layers, Sequence)
            or not all(
                isinstance(w, Integral) and not isinstance(w, bool) and w > 0 for w in layers
            )
        ):
            raise ValueError(
                f"hidden_layers must be a sequence of positive integers such as (128, 64, 32); "
                f"got {layers!r}"
            )
        if not isinstance(self.dropout, Real) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1); got {self.dropout!r}")

    def _build_module(self, n_features: int) -> torch.nn.Module:
        nn = import_torch().nn
        layers: list[torch.nn.Module] = []
        width = n_features
        for units in self.hidden_layers:
            layers += [
                nn.Linear(width, int(units)),
                nn.ReLU(),
                nn.BatchNorm1d(int(units)),
                nn.Dropout(float(self.dropout)),
            ]
            width = int(units)
        layers.append(nn.Linear(width, 2))
        return nn.Sequential(*layers)
