"""A 1-D convolutional network over AstroNet views, in PyTorch, as a scikit-learn classifier.

The network follows AstroNet (Shallue & Vanderburg 2018; Yu et al. 2019), made small enough to
train on a CPU: one convolutional column reads the ``global_view`` (the whole phase-folded orbit,
201 bins), another the ``local_view`` (a zoom on the transit, 61 bins); their flattened outputs are
joined with the scalar features (period, duration, depth, signal-to-noise, ...) and passed through
fully connected layers to two logits.

Input rows are the pipeline's feature matrix: the scalar columns first, then the views as flat
columns, ``global_000..global_200`` then ``local_00..local_60`` (the order
:func:`exohunt.features.make_features` gives). The views are already normalised (median 0, transit
depth about -1), so the registry turns the pipeline's StandardScaler off for this model and the
network standardises the scalar columns itself, with a mean and scale learned from the training
rows.

Training is done by :func:`exohunt.models._torch.fit_torch_classifier`; torch is imported only
when the network is built, trained or used.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import validate_data

from exohunt.errors import DataError
from exohunt.models._torch import TorchClassifierBase, _check_int, import_torch

if TYPE_CHECKING:
    import torch

    from exohunt.models.boosting import ProgressCallback

#: Max-pooling window of every convolutional block (stride 2, so each block halves the length).
POOL_SIZE = 3


class ViewsRequiredError(DataError, ValueError):
    """The rows have fewer columns than the views the network reads.

    A :class:`~exohunt.errors.DataError` for the command line, and a ValueError, as scikit-learn
    expects of ``fit`` given too few features.
    """


class TorchCNNClassifier(TorchClassifierBase):
    """AstroNet-like 1-D CNN over global and local light-curve views, plus scalar features.

    The last ``global_bins + local_bins`` columns of ``X`` are the views (global first); the
    columns before them, if any, are scalar features. Each convolutional block is
    ``convs_per_block`` times Conv1d -> ReLU (same-length convolutions), then
    MaxPool1d(3, stride 2), which halves the length. The two columns are flattened and joined with
    the standardised scalars, then go through fully connected blocks Linear -> ReLU -> Dropout and
    a final Linear giving two logits.
    Adam, cross-entropy weighted by the inverse class frequency of the training labels, early
    stopping on ``eval_set``.

    Parameters
    ----------
    global_channels : sequence of int, default=(16, 32, 64, 128)
        Filters of each convolutional block of the global-view column.
    local_channels : sequence of int, default=(16, 32)
        Filters of each convolutional block of the local-view column.
    convs_per_block : int, default=1
        Convolutions in each block. AstroNet has 2 (and 5 global blocks); 1 trains about twice as
        fast on a CPU, and on the TESS Triage views the two scored within the spread of the
        cross-validation folds (docs/benchmarks.md).
    kernel_size : int, default=5
        Width (bins) of every convolution; odd, so a convolution keeps the length.
    dense_layers : sequence of int, default=(128, 64)
        Units of each fully connected block after the columns are joined.
    dropout : float, default=0.3
        Dropout probability after each fully connected block.
    global_bins : int, default=201
        Bins of the global view: the columns after the scalars.
    local_bins : int, default=61
        Bins of the local view: the last columns.
    log_scalars : bool, default=True
        Pass the scalar columns through ``sign(x) * log1p(|x|)`` before standardising them, which
        tames heavy tails (depths in ppm, periods in days, signal-to-noise).
    reflect_views : bool, default=True
        Augment training batches as AstroNet does: each row's views are reversed in phase
        (a transit looks the same backwards) with probability 1/2.
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
    module_ : ViewNet
        The trained network (best epoch), in eval mode. It holds the scalar mean and scale.
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    n_scalar_features_ : int
        Columns before the views.
    scalar_mean_, scalar_scale_ : ndarray of shape (n_scalar_features_,)
        Mean and standard deviation of the (log-transformed) scalar columns over the training
        rows; a scale of 1 stands in for columns that are constant or empty.
    class_weight_ : ndarray of shape (2,)
        Loss weight of each class in ``classes_`` order: n_rows / (2 * n_rows_of_class).
    history_ : dict of str to list of float
        Per-epoch ``train_loss`` and, with ``eval_set``, ``val_loss``.
    best_iteration_ : int
        0-based epoch whose weights are kept.
    """

    def __init__(
        self,
        global_channels: Sequence[int] = (16, 32, 64, 128),
        local_channels: Sequence[int] = (16, 32),
        convs_per_block: int = 1,
        kernel_size: int = 5,
        dense_layers: Sequence[int] = (128, 64),
        dropout: float = 0.3,
        global_bins: int = 201,
        local_bins: int = 61,
        log_scalars: bool = True,
        reflect_views: bool = True,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 50,
        batch_size: int = 64,
        patience: int | None = 10,
        random_state: int | None = 42,
        device: str = "cpu",
        n_jobs: int | None = -1,
    ):
        self.global_channels = global_channels
        self.local_channels = local_channels
        self.convs_per_block = convs_per_block
        self.kernel_size = kernel_size
        self.dense_layers = dense_layers
        self.dropout = dropout
        self.global_bins = global_bins
        self.local_bins = local_bins
        self.log_scalars = log_scalars
        self.reflect_views = reflect_views
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
        for name in ("global_channels", "local_channels", "dense_layers"):
            _check_widths(name, getattr(self, name), allow_empty=name == "dense_layers")
        _check_int("convs_per_block", self.convs_per_block, minimum=1)
        _check_int("kernel_size", self.kernel_size, minimum=1)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd, so a convolution keeps the view's length; "
                f"got {self.kernel_size!r}"
            )
        _check_int("global_bins", self.global_bins, minimum=1)
        _check_int("local_bins", self.local_bins, minimum=1)
        if not isinstance(self.dropout, Real) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1); got {self.dropout!r}")

    def _n_scalars(self, n_features: int) -> int:
        """Columns before the views; raises ViewsRequiredError when the views cannot fit."""
        n_views = self.global_bins + self.local_bins
        if n_features < n_views:
            raise ViewsRequiredError(
                f"cnn needs AstroNet views (global_view, local_view): use a .npz view archive. "
                f"X has {n_features} feature(s); expected at least {n_views}: any scalar columns, "
                f"then {self.global_bins} global-view columns (global_000..) and "
                f"{self.local_bins} local-view columns (local_00..), last"
            )
        return n_features - n_views

    def fit(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None = None,
        progress: ProgressCallback | None = None,
    ):
        """Train on rows ``X`` and labels ``y``; ``eval_set=(X_val, y_val)`` is for early
        stopping only.

        The scalar mean and scale are learned from ``X`` alone. ``progress(epoch, logs)`` is
        called after each epoch with ``train_loss`` and ``val_loss``. Raises ViewsRequiredError
        (a ValueError) if ``X`` has fewer than ``global_bins + local_bins`` columns, ValueError
        for other invalid settings or data, MissingDependencyError if torch is not installed.
        """
        import_torch()
        self._check_params()
        X_checked = validate_data(self, X, dtype=np.float32)
        n_scalars = self._n_scalars(X_checked.shape[1])
        scalars = self._transform_scalars(X_checked[:, :n_scalars].astype(np.float64))
        self.scalar_mean_, self.scalar_scale_ = _nan_mean_and_scale(scalars)
        self.n_scalar_features_ = n_scalars
        return super().fit(X, y, eval_set=eval_set, progress=progress)

    def _transform_scalars(self, scalars: np.ndarray) -> np.ndarray:
        return np.sign(scalars) * np.log1p(np.abs(scalars)) if self.log_scalars else scalars

    def _build_module(self, n_features: int) -> torch.nn.Module:
        return _view_net_class()(
            n_scalars=self._n_scalars(n_features),
            global_bins=int(self.global_bins),
            local_bins=int(self.local_bins),
            global_channels=tuple(int(c) for c in self.global_channels),
            local_channels=tuple(int(c) for c in self.local_channels),
            convs_per_block=int(self.convs_per_block),
            kernel_size=int(self.kernel_size),
            dense_layers=tuple(int(u) for u in self.dense_layers),
            dropout=float(self.dropout),
            scalar_mean=self.scalar_mean_,
            scalar_scale=self.scalar_scale_,
            log_scalars=bool(self.log_scalars),
            reflect_views=bool(self.reflect_views),
        )


def _check_widths(name: str, widths: Any, allow_empty: bool) -> None:
    if (
        isinstance(widths, (str, bytes))
        or not isinstance(widths, Sequence)
        or (not widths and not allow_empty)
        or not all(isinstance(w, Integral) and not isinstance(w, bool) and w > 0 for w in widths)
    ):
        example = {"global_channels": "(16, 32, 64, 128)", "local_channels": "(16, 32)"}
        raise ValueError(
            f"{name} must be a {'' if allow_empty else 'non-empty '}sequence of positive "
            f"integers such as {example.get(name, '(128, 64)')}; got {widths!r}"
        )


def _nan_mean_and_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation over the finite values; mean 0 and scale 1 stand
    in for columns without finite values, scale 1 for constant columns."""
    finite = np.isfinite(values)
    count = np.maximum(finite.sum(axis=0), 1)
    mean = np.where(finite, values, 0.0).sum(axis=0) / count
    scale = np.sqrt((np.where(finite, values - mean, 0.0) ** 2).sum(axis=0) / count)
    constant = scale <= 1e-9 * np.maximum(np.abs(mean), 1.0)  # zero, up to rounding
    return mean, np.where(constant, 1.0, scale)


# The torch module class is created on first use, so importing this file does not import torch.
# It is published as the module attribute ``ViewNet`` (PEP 562 ``__getattr__``), which is where
# pickle looks for it when a fitted classifier is saved and loaded.
_VIEW_NET: list[type] = []


def __getattr__(name: str) -> Any:
    if name == "ViewNet":
        return _view_net_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _view_net_class() -> type:
    if _VIEW_NET:
        return _VIEW_NET[0]
    torch = import_torch()
    nn = torch.nn

    def conv_column(channels: tuple[int, ...], convs: int, kernel_size: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        width = 1
        for out in channels:
            for _ in range(convs):
                layers += [nn.Conv1d(width, out, kernel_size, padding=kernel_size // 2), nn.ReLU()]
                width = out
            layers.append(nn.MaxPool1d(POOL_SIZE, stride=2, padding=POOL_SIZE // 2))
        return nn.Sequential(*layers)

    class ViewNet(nn.Module):
        """Global and local convolutional columns, joined with scalars, then dense layers.

        ``forward`` takes the flat rows ``(n, n_scalars + global_bins + local_bins)`` and returns
        logits ``(n, 2)``. The scalar mean and scale are buffers, saved with the weights.
        """

        def __init__(
            self,
            n_scalars: int,
            global_bins: int,
            local_bins: int,
            global_channels: tuple[int, ...],
            local_channels: tuple[int, ...],
            convs_per_block: int,
            kernel_size: int,
            dense_layers: tuple[int, ...],
            dropout: float,
            scalar_mean: np.ndarray,
            scalar_scale: np.ndarray,
            log_scalars: bool,
            reflect_views: bool,
        ):
            super().__init__()
            self.n_scalars, self.global_bins, self.local_bins = n_scalars, global_bins, local_bins
            self.log_scalars, self.reflect_views = log_scalars, reflect_views
            self.register_buffer("scalar_mean", torch.as_tensor(scalar_mean, dtype=torch.float32))
            self.register_buffer("scalar_scale", torch.as_tensor(scalar_scale, dtype=torch.float32))
            self.global_column = conv_column(global_channels, convs_per_block, kernel_size)
            self.local_column = conv_column(local_channels, convs_per_block, kernel_size)
            with torch.no_grad():
                width = n_scalars
                width += self.global_column(torch.zeros(1, 1, global_bins)).shape[1:].numel()
                width += self.local_column(torch.zeros(1, 1, local_bins)).shape[1:].numel()
            layers: list[nn.Module] = []
            for units in dense_layers:
                layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
                width = units
            layers.append(nn.Linear(width, 2))
            self.head = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            start = self.n_scalars
            global_view = x[:, start : start + self.global_bins].unsqueeze(1)
            local_view = x[:, start + self.global_bins :].unsqueeze(1)
            if self.training and self.reflect_views:  # augmentation: phase -> -phase
                flip = torch.rand(len(x), 1, 1, device=x.device) < 0.5
                global_view = torch.where(flip, global_view.flip(-1), global_view)
                local_view = torch.where(flip, local_view.flip(-1), local_view)
            parts = [
                self.global_column(global_view).flatten(1),
                self.local_column(local_view).flatten(1),
            ]
            if self.n_scalars:
                scalars = x[:, : self.n_scalars]
                if self.log_scalars:
                    scalars = torch.sign(scalars) * torch.log1p(torch.abs(scalars))
                parts.append((scalars - self.scalar_mean) / self.scalar_scale)
            return self.head(torch.cat(parts, dim=1))

    ViewNet.__module__ = __name__
    ViewNet.__qualname__ = "ViewNet"
    _VIEW_NET.append(ViewNet)
    return ViewNet
