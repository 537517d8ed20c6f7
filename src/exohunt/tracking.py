"""Experiment tracking. The only module that imports mlflow.

Training code talks to a :class:`Tracker`; :class:`NullTracker` does nothing and
:class:`MlflowTracker` records to an MLflow store. Use :func:`make_tracker` to get the right one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class Tracker:
    """The tracking interface. This base class records nothing (see :class:`NullTracker`)."""

    enabled = False
    store = None  # where runs go, as printed to the user

    @contextlib.contextmanager
    def run(self, name: str, nested: bool = False, tags: dict | None = None) -> Iterator[None]:
        """Open a run for the duration of the block."""
        yield

    def run_id(self) -> str | None:
        return None

    def log_params(self, params: dict) -> None:
        pass

    def log_metrics(self, metrics: dict, step: int | None = None, prefix: str = "") -> None:
        pass

    def log_history(self, history: dict[str, list[float]]) -> None:
        """Per-epoch/per-round series, each value logged at step = its index."""

    def set_tags(self, tags: dict) -> None:
        pass

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        pass

    def log_dataset(self, dataset, frame, context: str = "training") -> None:
        pass

    def log_model(self, model, frame, model_name: str, estimator) -> dict:
        """Log the fitted model; returns the URIs it was logged under."""
        return {}


class NullTracker(Tracker):
    """Records nothing: ``--no-mlflow``, or mlflow not installed."""
