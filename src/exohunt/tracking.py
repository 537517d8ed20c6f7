"""Experiment tracking. The only module that imports mlflow.

Training code talks to a :class:`Tracker`; :class:`NullTracker` does nothing and
:class:`MlflowTracker` records to an MLflow store. :func:`make_tracker` picks one, and
:func:`resolve_tracking_uri` resolves the store the same way for every command:
``--tracking-uri``, then ``MLFLOW_TRACKING_URI``, then ``./mlruns`` (SQLite + artifacts).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import math
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from exohunt.errors import ExohuntError, MissingDependencyError

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "exoplanet-detection"
SERVABLE_MODEL = "exohunt_model"  # the pyfunc model on raw rows
NATIVE_MODEL = "model"  # the native-flavor model on the feature matrix
_BATCH = 1000  # MLflow's limit of metrics per log_batch call


# --------------------------------------------------------------------------- the store
def default_store(root: Path | None = None) -> tuple[str, str]:
    """The default tracking URI and artifact root: ``./mlruns/mlflow.db`` and ``./mlruns/artifacts``."""
    root = (root or Path.cwd() / "mlruns").resolve()
    return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()


def resolve_tracking_uri(cli_uri: str | None = None) -> str:
    """``--tracking-uri``, then ``MLFLOW_TRACKING_URI``, then the local ``./mlruns`` store."""
    uri = cli_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_store()[0]
    if "://" not in uri and not uri.startswith("sqlite:"):
        # a bare path: a SQLite file inside that folder
        uri = default_store(Path(uri))[0]
    return uri


def artifact_root_for(uri: str) -> str | None:
    """Where artifacts of new experiments go: beside a local SQLite store; else the server decides."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "artifacts").as_uri()
    return None


def redact(uri: str) -> str:
    """A URI with any password replaced by ``***``, safe to print and log."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _import_mlflow():
    # MLflow's download bars and INFO lines would interleave with exohunt's own report.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        import mlflow
    except ImportError as exc:
        raise MissingDependencyError("mlflow", "experiment tracking", extra="mlflow") from exc
    return mlflow


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Serialise first-time schema creation of a local SQLite store across processes."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri[len("sqlite:///") :])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.parent / ".exohunt-init.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_store(uri: str, experiment_name: str) -> str:
    """Create the store's schema and the experiment once, safely; return the experiment id."""
    mlflow = _import_mlflow()
    from mlflow.tracking import MlflowClient

    with _store_lock(uri):
        try:
            client = MlflowClient(tracking_uri=uri)
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is not None:
                return experiment.experiment_id
            try:
                return client.create_experiment(
                    experiment_name, artifact_location=artifact_root_for(uri)
                )
            except mlflow.exceptions.MlflowException:
                # a process sharing the server or database may have created it just now
                experiment = client.get_experiment_by_name(experiment_name)
                if experiment is None:
                    raise
                return experiment.experiment_id
        except mlflow.exceptions.MlflowException as exc:
            raise ExohuntError(
                f"cannot use the tracking store {redact(uri)}: {str(exc).splitlines()[0]} "
                "(check --tracking-uri, or start the server)"
            ) from exc


# --------------------------------------------------------------------------- tracking servers
#: Seconds to wait for a tracking server's /health before giving up (MLflow's own client would
#: retry an unreachable server with backoff for minutes).
SERVER_CHECK_TIMEOUT_SECONDS = 10.0


def check_tracking_server(uri: str, timeout_seconds: float = SERVER_CHECK_TIMEOUT_SECONDS) -> None:
    """Fail fast when an ``http(s)://`` tracking server does not answer ``GET /health``.

    Any HTTP answer counts as reachable (a server behind authentication may answer 401); other
    URIs are not checked. Raises ExohuntError naming the server (password redacted) and the fix.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds):
            return
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as exc:
        reason = _network_reason(getattr(exc, "reason", exc), timeout_seconds)
        raise ExohuntError(
            f"cannot reach the tracking server {redact(uri)}: {reason} (start it with "
            "'exohunt server', or fix --tracking-uri / MLFLOW_TRACKING_URI)"
        ) from exc


def _network_reason(reason, timeout_seconds: float) -> str:
    import socket

    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout_seconds:g} s"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    return str(reason).splitlines()[0] if str(reason) else type(reason).__name__


def init_server_store(
    backend_store_uri: str, default_artifact_root: str = "mlflow-artifacts:/"
) -> None:
    """Create (or check) the MLflow schema of a SQL database once, before ``mlflow server``
    starts several workers on it. New experiments' artifacts default to ``default_artifact_root``
    (``mlflow-artifacts:/``: uploaded through the server to its ``--artifacts-destination``).

    Raises ExohuntError with a one-line reason, password redacted, when the database cannot be
    used (for example an out-of-date schema, with the upgrade command).
    """
    mlflow = _import_mlflow()
    import sqlalchemy.exc
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        SqlAlchemyStore(backend_store_uri, default_artifact_root)
    except (mlflow.exceptions.MlflowException, sqlalchemy.exc.SQLAlchemyError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        reason = _scrub(message.strip().splitlines()[0], backend_store_uri)
        fix = "mlflow db upgrade <URI>" if "out-of-date" in message else "check the database"
        raise ExohuntError(
            f"cannot prepare the MLflow schema in {redact(backend_store_uri)}: {reason} ({fix})"
        ) from exc


def _scrub(text: str, uri: str) -> str:
    """``text`` with the password of ``uri`` (raw and URL-decoded) replaced by ``***``."""
    from urllib.parse import unquote, urlsplit

    password = urlsplit(uri).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, "***")
    return text


# --------------------------------------------------------------------------- trackers
class Tracker:
    """The tracking interface. This base class records nothing (see :class:`NullTracker`)."""

    enabled = False
    store: str | None = None  # where runs go, as printed to the user
    experiment_id: str | None = None

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

    def tag_run(self, run_id: str, tags: dict) -> None:
        """Tag a run other than the active one (the best child of a parent run)."""

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        pass

    def log_dataset(self, dataset, frame, context: str = "training") -> None:
        pass

    def prepare_model_logging(self, model_name: str) -> None:
        """Get ready to log a ``model_name`` model (imports) while it trains."""

    def log_model(
        self, fitted, frame, model_name: str, metadata: dict, model_file: Path | None = None
    ) -> dict:
        """Log the fitted model (native flavor and servable pyfunc); return their URIs.
        ``model_file``: where the model was saved (joblib), if it was; spares pickling it again."""
        return {}

    def close(self) -> None:
        """Finish: write what is queued and release the tracking worker."""


class NullTracker(Tracker):
    """Records nothing: ``--no-mlflow``, or mlflow not installed."""


def make_tracker(
    enabled: bool = True,
    tracking_uri: str | None = None,
    experiment_name: str = DEFAULT_EXPERIMENT,
    keep_warm: bool = False,
) -> Tracker:
    """An :class:`MlflowTracker`, or a :class:`NullTracker` when disabled or mlflow is missing
    (with one warning that gives the install command). ``keep_warm``: see MlflowTracker."""
    if not enabled:
        return NullTracker()
    try:
        found = importlib.util.find_spec("mlflow") is not None
    except ImportError:
        found = False
    if not found:
        log.warning(
            "%s; training continues without tracking",
            MissingDependencyError("mlflow", "experiment tracking", extra="mlflow"),
        )
        return NullTracker()
    return MlflowTracker(resolve_tracking_uri(tracking_uri), experiment_name, keep_warm)


class MlflowTracker(Tracker):
    """Records runs, params, metrics, datasets, artifacts and models to an MLflow store.

    MLflow's own calls cost seconds of Python (importing mlflow, opening the store, logging
    models), so they run in a worker process (see :mod:`exohunt.tracking_worker`), fed in order by
    one background thread. Each method queues its call and returns; a run's block ends only when
    everything it queued has been written, and the first tracking error is raised there. Methods
    that return a value wait for it. With ``keep_warm`` (the CLI's choice) the worker may be a
    warm spare left by an earlier command, and :meth:`close` leaves one for the next.
    """

    enabled = True

    def __init__(
        self, uri: str, experiment_name: str = DEFAULT_EXPERIMENT, keep_warm: bool = False
    ):
        self.uri = uri
        self.store = redact(uri)
        self.experiment_name = experiment_name
        self._keep_warm = keep_warm
        self._models: list[str] = []
        check_tracking_server(uri)
        self._queue: queue.Queue = queue.Queue()
        self._pending: list[Future] = []
        self._run_ids: list[Future] = []
        from exohunt.tracking_worker import open_channel

        self._channel = open_channel(uri, keep_warm)
        threading.Thread(
            target=_drain, args=(self._queue, self._channel), name="exohunt-tracking", daemon=True
        ).start()
        weakref.finalize(self, self._queue.put, None)  # ends the thread
        self._opened: Future = self._submit("open", uri, experiment_name, os.getcwd())

    def close(self) -> None:
        """Write what is queued, let the worker go and, for a command that asked for one,
        leave a warm spare for the next command."""
        try:
            self.flush()
        finally:
            self._queue.put(None)
            self._channel.close(leave_spare=self._keep_warm, models=tuple(self._models))

    def _submit(self, method: str, *args, **kwargs) -> Future:
        """Queue a call of the worker's backend ``method`` and return its future."""
        future: Future = Future()
        self._queue.put((future, method, args, kwargs))
        self._pending.append(future)
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued is written; raise the first tracking error."""
        errors = []
        while self._pending:  # a call stays pending until it is written (Ctrl-C may come first)
            try:
                self._pending[0].result(timeout=timeout)
            except Exception as exc:
                errors.append(exc)
            self._pending.pop(0)
        if errors:
            exc = errors[0]
            if isinstance(exc, ExohuntError):
                raise exc
            raise ExohuntError(
                f"tracking to {self.store} failed: {' '.join(str(exc).split())[:300]} "
                "(the local outputs were written; check the store, or use --no-mlflow)"
            ) from exc

    @property
    def experiment_id(self) -> str:
        return self._opened.result()

    # -- the interface
    @contextlib.contextmanager
    def run(self, name: str, nested: bool = False, tags: dict | None = None) -> Iterator[None]:
        self._run_ids.append(self._submit("start_run", name, nested, tags))
        try:
            yield
        except KeyboardInterrupt:
            self._submit("end_run", "KILLED", "interrupted (Ctrl-C)")
            self._finish(quiet=True)
            raise
        except BaseException as exc:
            self._submit("end_run", "FAILED", str(exc)[:5000], type(exc).__name__)
            self._finish(quiet=True)
            raise
        else:
            self._submit("end_run", "FINISHED")
            self._finish()

    def _finish(self, quiet: bool = False) -> None:
        self._run_ids.pop()
        try:
            self.flush(timeout=120 if quiet else None)
        except Exception as exc:
            if not quiet:
                raise
            log.warning("could not record the run's end: %s", exc)

    def run_id(self) -> str | None:
        return self._run_ids[-1].result() if self._run_ids else None

    def prepare_model_logging(self, model_name: str) -> None:
        self._models.append(model_name)
        self._submit("prepare_model_logging", model_name)

    def log_params(self, params: dict) -> None:
        self._submit("log_params", dict(params))

    def log_metrics(self, metrics: dict, step: int | None = None, prefix: str = "") -> None:
        self._submit("log_metrics", dict(metrics), step, prefix)

    def log_history(self, history: dict[str, list[float]]) -> None:
        self._submit("log_history", {k: [float(x) for x in v] for k, v in history.items()})

    def set_tags(self, tags: dict) -> None:
        self._submit("set_tags", dict(tags))

    def tag_run(self, run_id: str, tags: dict) -> None:
        self._submit("tag_run", run_id, dict(tags))

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        self._submit("log_artifacts", [str(p) for p in paths], artifact_path)

    def log_dataset(self, dataset, frame, context: str = "training") -> None:
        from exohunt.dataset import ARRAY_COLUMNS

        # the catalogue columns only: light curves stay in this process
        table = frame.drop(columns=[c for c in ARRAY_COLUMNS if c in frame.columns])
        labelled = dataset.labels is not None
        if labelled:
            table = table.assign(exohunt_label=dataset.labels)
        self._submit("log_dataset", table, str(dataset.source), labelled, context)

    def log_model(
        self, fitted, frame, model_name: str, metadata: dict, model_file: Path | None = None
    ) -> Future:
        """Queue logging of the model; the returned future gives ``{"native", "servable"}`` URIs.
        With ``model_file`` the worker reads the saved model instead of receiving a copy."""
        model = str(model_file) if model_file is not None else fitted
        return self._submit("log_model", model, frame.iloc[:5], model_name, dict(metadata))

    def register(self, model_uri: str, name: str, alias: str = "champion") -> str:
        """Register ``model_uri`` as a new version of ``name``, point ``alias`` at it, and return
        the version."""
        return self._submit("register", model_uri, name, alias).result()


def _drain(requests: queue.Queue, channel) -> None:
    """The background thread of an :class:`MlflowTracker`: make its calls in order."""
    while True:
        item = requests.get()
        if item is None:
            return
        future, method, args, kwargs = item
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(channel.call(method, *args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)


def warm_up(uri: str, models: tuple[str, ...] = ()) -> None:
    """Import MLflow and what logging ``models`` needs, and open the store ``uri`` (creating its
    schema once, safely): the start-up a warm spare does before any command arrives."""
    import importlib

    mlflow = _import_mlflow()
    with _store_lock(uri):
        mlflow.tracking.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    for module in ("mlflow.pyfunc", "mlflow.models", "mlflow.sklearn", "mlflow.data", "joblib"):
        importlib.import_module(module)
    for model_name in models:
        _import_for_model(model_name)


def _import_for_model(model_name: str) -> None:
    """Import what loading and logging a ``model_name`` model needs (torch alone is ~2 s)."""
    import importlib

    from exohunt.models import get_model

    get_model(model_name).build()  # imports the estimator's module
    extra = {
        "xgboost": ("xgboost", "mlflow.xgboost"),
        "nn": ("torch", "mlflow.pytorch"),
        "cnn": ("torch", "mlflow.pytorch"),
    }.get(model_name, ("mlflow.sklearn",))
    for module in ("exohunt.train", "exohunt.predict", *extra):
        importlib.import_module(module)


class _MlflowBackend:
    """The MLflow calls behind :class:`MlflowTracker`, made in its worker process
    (:func:`exohunt.tracking_worker.serve`)."""

    def __init__(self, uri: str, experiment_name: str, worker: str = "cold"):
        self._mlflow = _import_mlflow()
        self.experiment_id = prepare_store(uri, experiment_name)
        self._mlflow.set_tracking_uri(uri)
        self._worker = worker
        self.models: list[str] = []  # the models logged: the next spare gets ready for them

    def start_run(self, name: str, nested: bool, tags: dict | None) -> str:
        mlflow = self._mlflow
        nested = nested or mlflow.active_run() is not None
        tags = (tags or {}) | {"exohunt.tracking_worker": self._worker}
        run = mlflow.start_run(
            run_name=name, experiment_id=self.experiment_id, nested=nested, tags=tags
        )
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

    def prepare_model_logging(self, model_name: str) -> None:
        """Import what loading and logging this model will need, while it trains."""
        _import_for_model(model_name)
        self.models.append(model_name)

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
            self._mlflow.log_input(ds, context=context)

    def log_model(self, fitted, frame, model_name: str, metadata: dict) -> dict:
        """``fitted``: a FittedModel, or the path of its saved model.joblib."""
        model_file = None
        if isinstance(fitted, str):
            import joblib

            from exohunt.train import FittedModel

            model_file = fitted
            fitted = FittedModel(
                model=joblib.load(model_file),
                threshold=metadata["threshold"],
                feature_names=metadata["feature_names"],
            )
        with _quiet_mlflow_hints():
            uris = {
                "native": _log_native(self._mlflow, fitted, frame, model_name),
                "servable": _log_servable(
                    self._mlflow, fitted.model, frame, model_name, metadata, model_file
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
    import exohunt

    for folder in (Path.cwd(), Path(exohunt.__file__).parent):
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


# --------------------------------------------------------------------------- models
def _requirements(*packages: str) -> list[str]:
    """Pinned pip requirements of the logged model (passing them skips MLflow's slow inference)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("numpy", "pandas", "scipy", "scikit-learn", "joblib", "cloudpickle") + packages:
        for dist in (name, f"{name}-cpu"):  # xgboost-cpu installs the xgboost module
            try:
                out.append(f"{dist}=={version(dist)}")
                break
            except PackageNotFoundError:
                continue
    return out


def _log_native(mlflow, fitted, frame, model_name: str) -> str:
    """The estimator in its own flavor (sklearn, xgboost or pytorch), on the feature matrix."""
    from mlflow.models import infer_signature

    estimator = fitted.estimator
    X = np.asarray(fitted.pipeline[:-1].transform(frame.iloc[:5]), dtype=np.float32)
    module = getattr(estimator, "module_", None)
    if module is not None:  # torch networks
        import torch

        module.eval()
        with torch.no_grad():
            output = module(torch.from_numpy(X)).numpy()
        # pickle, not the default torch.export (pt2): export traces the network, 0.6-3 s
        info = mlflow.pytorch.log_model(
            module,
            name=NATIVE_MODEL,
            input_example=X,
            signature=infer_signature(X, output),
            pip_requirements=_requirements("torch"),
            serialization_format="pickle",  # (its **kwargs go to torch.save: no validate flag)
        )
    elif hasattr(estimator, "model_") and model_name == "xgboost":
        booster = estimator.model_
        info = mlflow.xgboost.log_model(
            booster,
            name=NATIVE_MODEL,
            input_example=X,
            signature=infer_signature(X, booster.predict_proba(X)),
            pip_requirements=_requirements("xgboost"),
        )
    else:
        # cloudpickle, not skops: skops takes ~6 s to import and rejects tree models unless every
        # type is listed as trusted.
        info = mlflow.sklearn.log_model(
            estimator,
            name=NATIVE_MODEL,
            input_example=X,
            signature=infer_signature(X, estimator.predict_proba(X)),
            pip_requirements=_requirements("cloudpickle"),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    return info.model_uri


def _servable_signature(example, output):
    """Input columns of the servable model, all optional, each with its aliases (so a raw KOI
    row with ``koi_period`` is accepted where the model reads ``orbital_period``)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    from exohunt.io.columns import ALIASES, STAR_ID_COLUMNS

    specs, seen = [], set()
    for column in example.columns:
        kind = "string" if example[column].dtype == object else "double"
        if column in STAR_ID_COLUMNS:
            kind = AnyType()  # a number in one catalogue (kepid), text in another
        for name in (column, *ALIASES.get(column, ())):
            if name not in seen:
                seen.add(name)
                specs.append(ColSpec(kind, name, required=False))
    return ModelSignature(inputs=Schema(specs), outputs=infer_signature(example, output).outputs)


def _servable_model_class():
    """A pyfunc model class that scores raw input rows with the saved exohunt model.

    Defined in a function so that this module imports mlflow only when it is used; cloudpickle
    stores the class by value with the logged model.
    """
    import mlflow.pyfunc
    import pandas as pd

    def predict(self, context, model_input, params=None):
        from exohunt.predict import score_raw

        return score_raw(self.model, model_input)

    # Real (not string) annotations: MLflow reads them when the class is created.
    predict.__annotations__ = {"model_input": pd.DataFrame, "return": pd.DataFrame}

    class ExohuntModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            import joblib

            self.model = joblib.load(context.artifacts["model"])

    ExohuntModel.predict = predict
    return ExohuntModel


def _package_copy(tmp: Path) -> str:
    """A copy of the exohunt package without bundled data, to ship with the servable model."""
    import exohunt

    source = Path(exohunt.__file__).parent
    target = tmp / "exohunt"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return str(target)


_EXTRA_REQUIREMENTS = {"xgboost": ("xgboost",), "nn": ("torch",), "cnn": ("torch",)}


def _log_servable(
    mlflow, model, frame, model_name: str, metadata: dict, model_file: str | None = None
) -> str:
    """The whole fitted model as one pyfunc that takes raw rows and returns probability + label.
    ``model_file``: the model already saved with joblib (else it is saved here)."""
    import joblib

    from exohunt.predict import raw_input_example, score_raw

    example = raw_input_example(model, frame.iloc[:5])
    with tempfile.TemporaryDirectory() as tmp:
        if model_file is None:
            model_file = str(Path(tmp) / "model.joblib")
            joblib.dump(model, model_file)
        meta_path = Path(tmp) / "model_metadata.json"
        meta_path.write_text(json.dumps(metadata, indent=2, default=str))
        info = mlflow.pyfunc.log_model(
            name=SERVABLE_MODEL,
            python_model=_servable_model_class()(),
            artifacts={"model": model_file, "metadata": str(meta_path)},
            code_paths=[_package_copy(Path(tmp))],
            input_example=example,
            signature=_servable_signature(example, score_raw(model, example)),
            pip_requirements=_requirements(*_EXTRA_REQUIREMENTS.get(model_name, ())),
        )
    return info.model_uri


def load_logged_model(uri: str, tracking_uri: str | None = None):
    """Load the exohunt model behind an MLflow model URI (``models:/name@alias``, ``runs:/...``).

    Returns ``(model, metadata)``. Raises ModelError when it is not an exohunt model.
    """
    mlflow = _import_mlflow()
    store = resolve_tracking_uri(tracking_uri)
    check_tracking_server(store)
    with _store_lock(store):  # a first use of a fresh SQLite file creates its schema
        mlflow.set_tracking_uri(store)
        mlflow.tracking.MlflowClient().search_experiments(max_results=1)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        except mlflow.exceptions.MlflowException as exc:
            from exohunt.errors import ModelError

            raise ModelError(
                f"no model at {uri}: {str(exc).splitlines()[0]} "
                "(check the URI and --tracking-uri / MLFLOW_TRACKING_URI)"
            ) from exc
        return _load_servable_dir(Path(local), uri)


def _load_servable_dir(local: Path, uri: str):
    """The exohunt model inside a downloaded servable model folder, and its metadata."""
    import joblib

    from exohunt.errors import ModelError

    candidates = list(local.rglob("model.joblib"))
    if not candidates:
        raise ModelError(
            f"{uri} is not an exohunt servable model: it has no model.joblib artifact "
            f"(use the '{SERVABLE_MODEL}' model of an exohunt run, or models:/exohunt-<experiment>@champion)"
        )
    model = joblib.load(candidates[0])
    metas = list(local.rglob("model_metadata.json"))
    metadata = json.loads(metas[0].read_text()) if metas else {}
    return model, metadata
