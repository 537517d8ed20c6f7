"""The MLflow calls behind :class:`exohunt.tracking.MlflowTracker`, made in its worker process
(:func:`exohunt.tracking.worker.serve`), and the warm-up of a spare."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from exohunt.errors import ExohuntError, TrackingError
from exohunt.tracking.access import access_error, tracking_username
from exohunt.tracking.models import _log_native, _log_servable
from exohunt.tracking.store import (
    PACKAGE_DIR,
    RETRY_SECONDS,
    StoreUnavailableError,
    _import_mlflow,
    _store_lock,
    _unavailable_reason,
    prepare_store,
    redact,
)

log = logging.getLogger(__name__)

_BATCH = 1000  # MLflow's limit of metrics per log_batch call
_MAX_BACKOFF_SECONDS = 8.0
#: The calls that record into the open run: without one they would start a run of their own.
_RUN_CALLS = frozenset(
    {"log_params", "log_metrics", "log_history", "set_tags", "log_artifacts", "log_dataset"}
    | {"log_model"}
)


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

    def __init__(
        self,
        uri: str,
        experiment_name: str,
        worker: str = "cold",
        retry_seconds: float = RETRY_SECONDS,
    ):
        self._mlflow = _import_mlflow()
        _skip_package_scan()
        self._uri, self._experiment_name = uri, experiment_name
        self._retry_seconds = retry_seconds
        self._outage_started: float | None = None  # when the store stopped answering
        try:
            self.experiment_id = self._retrying(lambda: prepare_store(uri, experiment_name))
        except ExohuntError as exc:
            refused = self._refused(exc.__cause__)
            if refused is None:
                raise
            raise refused from exc.__cause__
        self._mlflow.set_tracking_uri(uri)
        self._worker = worker
        self.modules: list[str] = []  # what logging the models needed: the next spare imports it

    def call(self, method: str, *args, **kwargs):
        """Make the call ``method``, retrying while the store does not answer (see
        :meth:`_retrying`). A call that records into the run needs one open: without it MLflow
        would start a run of its own."""
        function = getattr(self, method)
        if method in ("end_run", "abandon", "run_id", "prepare_model_logging"):
            return function(*args, **kwargs)
        if method in _RUN_CALLS and self._mlflow.active_run() is None:
            raise ExohuntError("no run is open on the tracking store (its start was not recorded)")
        return self._retrying(lambda: function(*args, **kwargs))

    def _retrying(self, function: Callable):
        """``function()``, tried again with backoff (0.5 s doubling to 8 s) while the store does
        not answer: a server down or restarting, a database locked by another process. One
        outage has one budget, ``retry_seconds``: once spent, every call until the store answers
        again is tried once. Raises StoreUnavailableError saying what and for how long; other
        errors as they are."""
        delay = 0.5
        while True:
            try:
                value = function()
            except Exception as exc:
                reason = _unavailable_reason(exc)
                if reason is None:
                    raise
                now = time.monotonic()
                if self._outage_started is None:
                    self._outage_started = now
                    log.warning("tracking store %s: %s; retrying", redact(self._uri), reason)
                left = self._outage_started + self._retry_seconds - now
                if left <= 0:
                    waited = now - self._outage_started
                    raise StoreUnavailableError(
                        f"{reason} (retried for {waited:.0f} s; "
                        "EXOHUNT_TRACKING_RETRY_SECONDS sets how long)"
                    ) from None
                time.sleep(min(delay, left))
                delay = min(2 * delay, _MAX_BACKOFF_SECONDS)
            else:
                self._outage_started = None
                return value

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
        """End the open run with ``status`` (and the error in its tags), retrying while the store
        does not answer; the run is closed here even when the store never hears of it."""
        run = self._mlflow.active_run()
        if run is None:
            return
        run_id = run.info.run_id
        client = self._mlflow.tracking.MlflowClient()
        failure = None
        if error is not None:
            tags = {"exohunt.error": error} | (
                {"exohunt.error_type": error_type} if error_type else {}
            )
            try:
                self._retrying(lambda: [client.set_tag(run_id, k, v) for k, v in tags.items()])
            except Exception as exc:
                failure = exc
        try:
            self._mlflow.end_run(status=status)  # leaves the run first, then tells the store
        except Exception:
            try:
                self._retrying(lambda: client.set_terminated(run_id, status))
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def abandon(self) -> None:
        """End the runs the training process left open (it died): FAILED, saying so. Tried once:
        nobody waits for this process any more."""
        self._retry_seconds = 0.0
        while self._mlflow.active_run() is not None:
            with contextlib.suppress(Exception):
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
            if Path(path).is_dir():  # a folder's contents, under artifact_path
                self._mlflow.log_artifacts(str(path), artifact_path=artifact_path)
                continue
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
