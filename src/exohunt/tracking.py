"""Experiment tracking. The only module that imports mlflow.

Training code talks to a :class:`Tracker`; :class:`NullTracker` does nothing and
:class:`MlflowTracker` records to an MLflow store. :func:`make_tracker` picks one, and
:func:`resolve_tracking_uri` resolves the store the same way for every command:
``--tracking-uri``, then ``MLFLOW_TRACKING_URI``, then ``./mlruns`` (SQLite + artifacts).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
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
            return client.create_experiment(
                experiment_name, artifact_location=artifact_root_for(uri)
            )
        except mlflow.exceptions.MlflowException as exc:
            raise ExohuntError(
                f"cannot use the tracking store {redact(uri)}: {str(exc).splitlines()[0]} "
                "(check --tracking-uri, or start the server)"
            ) from exc


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

    def log_model(self, fitted, frame, model_name: str, metadata: dict) -> dict:
        """Log the fitted model (native flavor and servable pyfunc); return their URIs."""
        return {}


class NullTracker(Tracker):
    """Records nothing: ``--no-mlflow``, or mlflow not installed."""


def make_tracker(
    enabled: bool = True,
    tracking_uri: str | None = None,
    experiment_name: str = DEFAULT_EXPERIMENT,
) -> Tracker:
    """An :class:`MlflowTracker`, or a :class:`NullTracker` when disabled or mlflow is missing
    (with one warning that gives the install command)."""
    if not enabled:
        return NullTracker()
    try:
        _import_mlflow()
    except MissingDependencyError as exc:
        log.warning("%s; training continues without tracking", exc)
        return NullTracker()
    return MlflowTracker(resolve_tracking_uri(tracking_uri), experiment_name)


class MlflowTracker(Tracker):
    """Records runs, params, metrics, datasets, artifacts and models to an MLflow store."""

    enabled = True

    def __init__(self, uri: str, experiment_name: str = DEFAULT_EXPERIMENT):
        self.uri = uri
        self.store = redact(uri)
        self.experiment_name = experiment_name
        self.experiment_id = prepare_store(uri, experiment_name)
        self._mlflow = _import_mlflow()
        self._mlflow.set_tracking_uri(uri)

    @contextlib.contextmanager
    def run(self, name: str, nested: bool = False, tags: dict | None = None) -> Iterator[None]:
        mlflow = self._mlflow
        nested = nested or mlflow.active_run() is not None
        active = mlflow.start_run(
            run_name=name, experiment_id=self.experiment_id, nested=nested, tags=tags
        )
        try:
            yield
        except KeyboardInterrupt:
            mlflow.set_tag("exohunt.error", "interrupted (Ctrl-C)")
            mlflow.end_run(status="KILLED")
            raise
        except BaseException as exc:
            mlflow.set_tags(
                {"exohunt.error": str(exc)[:5000], "exohunt.error_type": type(exc).__name__}
            )
            mlflow.end_run(status="FAILED")
            raise
        else:
            mlflow.end_run(status="FINISHED")
        finally:
            del active

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

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        for path in paths:
            sub = artifact_path or ("plots" if Path(path).suffix == ".png" else None)
            self._mlflow.log_artifact(str(path), artifact_path=sub)

    def log_dataset(self, dataset, frame, context: str = "training") -> None:
        from exohunt.dataset import ARRAY_COLUMNS

        table = frame.drop(columns=[c for c in ARRAY_COLUMNS if c in frame.columns])
        if dataset.labels is not None:
            table = table.assign(exohunt_label=dataset.labels)
        with _quiet_mlflow_hints():
            ds = self._mlflow.data.from_pandas(
                table,
                source=str(dataset.source),
                name=Path(str(dataset.source)).name,
                targets="exohunt_label" if dataset.labels is not None else None,
            )
            self._mlflow.log_input(ds, context=context)

    def log_model(self, fitted, frame, model_name: str, metadata: dict) -> dict:
        with _quiet_mlflow_hints():
            uris = {
                "native": _log_native(self._mlflow, fitted, frame, model_name),
                "servable": _log_servable(self._mlflow, fitted.model, frame, model_name, metadata),
            }
        self._mlflow.set_tag("exohunt.servable_model_uri", uris["servable"])
        return uris

    def register(self, model_uri: str, name: str, alias: str = "champion") -> str:
        """Register ``model_uri`` as a new version of ``name`` and point ``alias`` at it."""
        client = self._mlflow.tracking.MlflowClient()
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name)
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
        info = mlflow.pytorch.log_model(
            module,
            name=NATIVE_MODEL,
            input_example=X,
            signature=infer_signature(X, output),
            pip_requirements=_requirements("torch"),
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

    from exohunt.io.columns import ALIASES

    specs, seen = [], set()
    for column in example.columns:
        kind = "string" if example[column].dtype == object else "double"
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


def _log_servable(mlflow, model, frame, model_name: str, metadata: dict) -> str:
    """The whole fitted model as one pyfunc that takes raw rows and returns probability + label."""
    import joblib

    from exohunt.predict import raw_input_example, score_raw

    example = raw_input_example(model, frame.iloc[:5])
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "model.joblib"
        joblib.dump(model, model_path)
        meta_path = Path(tmp) / "model_metadata.json"
        meta_path.write_text(json.dumps(metadata, indent=2, default=str))
        info = mlflow.pyfunc.log_model(
            name=SERVABLE_MODEL,
            python_model=_servable_model_class()(),
            artifacts={"model": str(model_path), "metadata": str(meta_path)},
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
