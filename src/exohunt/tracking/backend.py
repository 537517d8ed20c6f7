"""The MLflow calls behind :class:`exohunt.tracking.MlflowTracker`, made in its worker process
(:func:`exohunt.tracking.worker.serve`), and the warm-up of a spare."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from exohunt.errors import ExohuntError, TrackingError
from exohunt.tracking.access import access_error, tracking_username
from exohunt.tracking.models import _log_native, _log_servable
from exohunt.tracking.store import PACKAGE_DIR, _import_mlflow, _store_lock, prepare_store

log = logging.getLogger(__name__)

_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def warm_up(uri: str, modules: tuple[str, ...] = ()) -> None:
    """Import MLflow and ``modules`` (what logging the last command's models needed, see
    :func:`modules_for_model`), and open the store ``uri`` (creating its schema once, safely): the
    start-up a warm spare does before any command arrives."""
    import importlib

    mlflow = _import_mlflow()
    with _store_lock(uri):
        mlflow.tracking.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    for module in ("mlflow.pyfunc", "mlflow.models", "mlflow.sklearn", "mlflow.data", "joblib"):
        importlib.import_module(module)
    for module in modules:
        importlib.import_module(module)


#: What unpickling a saved exohunt Pipeline imports (the model's own modules apart), and the
#: scoring of raw rows the servable model is logged with.
_PIPELINE_MODULES = (
    "exohunt.serving",
    "sklearn.pipeline",
    "sklearn.impute",
    "sklearn.preprocessing",
    "sklearn.model_selection",
)


def modules_for_model(model_name: str, modules: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The modules loading and logging a ``model_name`` model imports: ``modules`` (the caller's:
    the estimator's and the feature steps'), the Pipeline's, and MLflow's flavor for the model."""
    extra = {
        "xgboost": ("xgboost", "mlflow.xgboost"),
        "nn": ("torch", "mlflow.pytorch"),
        "cnn": ("torch", "mlflow.pytorch"),
    }.get(model_name, ("mlflow.sklearn",))
    return tuple(dict.fromkeys((*modules, *_PIPELINE_MODULES, *extra)))


def _skip_package_scan() -> None:
    """Spare MLflow's scan of every installed distribution (1.3 s here) in this process.

    Each ``log_model`` checks its pip requirements against the environment. To do that MLflow
    first maps every importable module to its distribution by reading the file list of every
    installed package, a map it needs only to infer requirements. exohunt never lets it infer:
    its requirements are pinned distributions (``_requirements``), whose versions MLflow then
    looks up by name, which an empty map leaves it to do. This worker process logs exohunt's
    models only. The map is MLflow-internal (pinned 3.17.2): if it goes away, nothing breaks and
    the first ``log_model`` is slower."""
    try:
        from mlflow.utils import requirements_utils
    except ImportError:
        return
    if getattr(requirements_utils, "_MODULES_TOPACKAGE_DIRS", False) is None:
        requirements_utils._MODULES_TOPACKAGE_DIRS = {}


class _MlflowBackend:
    """The MLflow calls behind :class:`MlflowTracker`, made in its worker process
    (:func:`exohunt.tracking.worker.serve`)."""

    def __init__(self, uri: str, experiment_name: str, worker: str = "cold"):
        self._mlflow = _import_mlflow()
        _skip_package_scan()
        self._uri, self._experiment_name = uri, experiment_name
        try:
            self.experiment_id = prepare_store(uri, experiment_name)
        except ExohuntError as exc:
            refused = self._refused(exc.__cause__)
            if refused is None:
                raise
            raise refused from exc.__cause__
        self._mlflow.set_tracking_uri(uri)
        self._worker = worker
        self.modules: list[str] = []  # what logging the models needed: the next spare imports it

    def _refused(self, exc: BaseException | None) -> TrackingError | None:
        """The one-line error when ``exc`` is the server's 401 or 403, else None."""
        status = exc.get_http_status_code() if isinstance(exc, self._mlflow.MlflowException) else 0
        if status not in (401, 403):
            return None
        return access_error(self._uri, status, self._experiment_name, tracking_username(self._uri))

    def start_run(self, name: str, nested: bool, tags: dict | None) -> str:
        mlflow = self._mlflow
        nested = nested or mlflow.active_run() is not None
        tags = (tags or {}) | {"exohunt.tracking.worker": self._worker}
        try:
            run = mlflow.start_run(
                run_name=name, experiment_id=self.experiment_id, nested=nested, tags=tags
            )
        except mlflow.MlflowException as exc:
            refused = self._refused(exc)
            if refused is None:
                raise
            raise refused from exc
        return run.info.run_id

    def end_run(self, status: str, error: str | None = None, error_type: str | None = None):
        if error is not None:
            tags = {"exohunt.error": error}
            if error_type:
                tags["exohunt.error_type"] = error_type
            self._mlflow.set_tags(tags)
        self._mlflow.end_run(status=status)

    def abandon(self) -> None:
        """End the runs the training process left open (it died): FAILED, saying so."""
        while self._mlflow.active_run() is not None:
            self.end_run("FAILED", "the exohunt process ended before its run did")

    def prepare_model_logging(self, model_name: str, modules: tuple[str, ...] = ()) -> None:
        """Import what loading and logging this model will need (torch alone is ~2 s), while it
        trains: ``modules`` and those of :func:`modules_for_model`."""
        import importlib

        needed = modules_for_model(model_name, tuple(modules))
        for module in needed:
            importlib.import_module(module)
        self.modules.extend(needed)

    def run_id(self) -> str | None:
        run = self._mlflow.active_run()
        return run.info.run_id if run else None

    def log_params(self, params: dict) -> None:
        self._mlflow.log_params({k: _param_value(v) for k, v in params.items()})

    def log_metrics(self, metrics: dict, step: int | None = None, prefix: str = "") -> None:
        clean = {
            f"{prefix}{k}": float(v)
            for k, v in metrics.items()
            if isinstance(v, (int, float, np.number)) and math.isfinite(float(v))
        }
        if clean:
            self._mlflow.log_metrics(clean, step=step)

    def log_history(self, history: dict[str, list[float]]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = [
            Metric(key=key, value=float(v), timestamp=now, step=step)
            for key, values in history.items()
            for step, v in enumerate(values)
            if math.isfinite(float(v))
        ]
        client = self._mlflow.tracking.MlflowClient()
        for start in range(0, len(entries), _BATCH):
            client.log_batch(self.run_id(), metrics=entries[start : start + _BATCH])

    def set_tags(self, tags: dict) -> None:
        tags = dict(tags)
        commit = _git_commit()
        if commit and "git_commit" not in tags:
            tags["git_commit"] = commit
            tags["mlflow.source.git.commit"] = commit
        self._mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def tag_run(self, run_id: str, tags: dict) -> None:
        client = self._mlflow.tracking.MlflowClient()
        for key, value in tags.items():
            client.set_tag(run_id, key, str(value))

    def log_artifacts(self, paths: list[str], artifact_path: str | None = None) -> None:
        for path in paths:
            sub = artifact_path or ("plots" if Path(path).suffix == ".png" else None)
            self._mlflow.log_artifact(path, artifact_path=sub)

    def log_dataset(self, table, source: str, labelled: bool, context: str = "training") -> None:
        with _quiet_mlflow_hints():
            ds = self._mlflow.data.from_pandas(
                table,
                source=source,
                name=Path(source).name,
                targets="exohunt_label" if labelled else None,
            )
            for attempt in range(3):
                try:
                    self._mlflow.log_input(ds, context=context)
                    break
                except self._mlflow.exceptions.MlflowException as exc:
                    # Two processes logging the same dataset to one experiment at once both
                    # see it missing and both insert it; the loser retries and links the
                    # row the winner made.
                    if attempt == 2 or not _is_duplicate_key(exc):
                        raise

    def log_model(self, model, frame, model_name: str, metadata: dict) -> dict:
        """``model``: the fitted model (the threshold classifier around the Pipeline), or the path
        of its saved model.joblib."""
        model_file = None
        if isinstance(model, str):
            import joblib

            model_file = model
            model = joblib.load(model_file)
        with _quiet_mlflow_hints():
            uris = {
                "native": _log_native(self._mlflow, model, frame, model_name),
                "servable": _log_servable(
                    self._mlflow, model, frame, model_name, metadata, model_file
                ),
            }
        self._mlflow.set_tag("exohunt.servable_model_uri", uris["servable"])
        return uris

    def register(self, model_uri: str, name: str, alias: str = "champion") -> str:
        """Register ``model_uri`` as a new version of ``name`` and point ``alias`` at it."""
        client = self._mlflow.tracking.MlflowClient()
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            try:
                client.create_registered_model(name)
            except self._mlflow.exceptions.MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another worker made it first
                    raise
        info = self._mlflow.models.get_model_info(model_uri)
        version = client.create_model_version(
            name, source=model_uri, run_id=info.run_id, model_id=info.model_id
        )
        client.set_registered_model_alias(name, alias, version.version)
        return version.version


def _is_duplicate_key(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("uniqueviolation", "unique constraint", "duplicate key", "integrityerror")
    )


@contextlib.contextmanager
def _quiet_mlflow_hints() -> Iterator[None]:
    """Silence MLflow's advisory UserWarnings (type hints, integer columns, dataset source
    ambiguity) for the calls that raise them; they are about MLflow usage, not the user's data."""
    import warnings

    import mlflow.pyfunc  # noqa: F401  (its import installs warning filters; let them go first)

    loggers = [logging.getLogger(n) for n in ("mlflow.sklearn", "mlflow.pyfunc", "mlflow.models")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def _param_value(value) -> str:
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, default=str)
    return str(value)[:6000]


def _git_commit() -> str | None:
    """The commit of the git repository the command runs in, else of exohunt's own source."""
    if not shutil.which("git"):
        return None
    for folder in (Path.cwd(), PACKAGE_DIR):
        try:
            out = subprocess.run(
                ["git", "-C", str(folder), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return None
