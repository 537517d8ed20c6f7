"""Logging models (the native flavor, and the servable pyfunc on raw rows) and loading them back
from an MLflow model URI."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from exohunt.tracking.store import (
    PACKAGE_DIR,
    _import_mlflow,
    _store_lock,
    check_tracking_server,
    resolve_tracking_uri,
)

log = logging.getLogger(__name__)

SERVABLE_MODEL = "exohunt_model"  # the pyfunc model on raw rows
NATIVE_MODEL = "model"  # the native-flavor model on the feature matrix


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


def _log_native(mlflow, model, frame, model_name: str) -> str:
    """The estimator of the fitted ``model`` (the threshold classifier around the Pipeline) in its
    own flavor (sklearn, xgboost or pytorch), on the feature matrix."""
    from mlflow.models import infer_signature

    pipeline = model.estimator.estimator
    estimator = pipeline[-1]
    X = np.asarray(pipeline[:-1].transform(frame.iloc[:5]), dtype=np.float32)
    module = getattr(estimator, "module_", None)
    if module is not None:  # torch networks
        import torch

        module.eval()
        with torch.no_grad():
            output = module(torch.from_numpy(X)).numpy()
        # pickle, not the default torch.export (pt2): export traces the network, 0.6-3 s. MLflow
        # warns about pickle on every log; the model is exohunt's own, logged by the user's run.
        flavor, native, extra = mlflow.pytorch, module, {"serialization_format": "pickle"}
        package = "torch"
        logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    elif hasattr(estimator, "model_") and model_name == "xgboost":
        flavor, native, extra, package = mlflow.xgboost, estimator.model_, {}, "xgboost"
        output = native.predict_proba(X)
    else:
        # cloudpickle, not skops: skops takes ~6 s to import and rejects tree models unless every
        # type is listed as trusted.
        flavor, native, package = mlflow.sklearn, estimator, "cloudpickle"
        extra = {"serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE}
        output = estimator.predict_proba(X)
    info = flavor.log_model(
        native,
        name=NATIVE_MODEL,
        input_example=X,
        signature=infer_signature(X, output),
        pip_requirements=_requirements(package),
        **extra,
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
        # Plain column types only: the scoring server reads a CSV body with them. A star id is
        # typed as the training catalogue has it: long for numbers (kepid), string for text.
        dtype = example[column].dtype
        kind = "long" if dtype.kind in "iu" else "double" if dtype.kind == "f" else "string"
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
        from exohunt.serving import score_raw

        return score_raw(self.model, model_input)

    # Real (not string) annotations: MLflow reads them when the class is created.
    predict.__annotations__ = {"model_input": pd.DataFrame, "return": pd.DataFrame}

    class ExohuntModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            import joblib

            from exohunt.serving import check_model_file

            metadata = json.loads(Path(context.artifacts["metadata"]).read_text())
            check_model_file(context.artifacts["model"], metadata)  # a model file is code
            self.model = joblib.load(context.artifacts["model"])

    ExohuntModel.predict = predict
    return ExohuntModel


def _package_copy(tmp: Path) -> str:
    """A copy of the exohunt package without bundled data, to ship with the servable model."""
    source = PACKAGE_DIR
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

    from exohunt.serving import raw_input_example, score_raw

    example = raw_input_example(model, frame.iloc[:5])
    with tempfile.TemporaryDirectory() as tmp:
        if model_file is None:
            from exohunt.serving import HASH_KEY, file_sha256

            model_file = str(Path(tmp) / "model.joblib")
            joblib.dump(model, model_file)
            metadata = {**metadata, HASH_KEY: {"model.joblib": file_sha256(model_file)}}
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
        model, metadata = _load_servable_dir(Path(local), uri)
    return model, {**metadata, **_model_version(mlflow, uri)}


def _model_version(mlflow, uri: str) -> dict:
    """``model_version`` and ``model_run_id`` of a registered model URI (``models:/name@alias``,
    ``models:/name/3``) or the run of a ``runs:/`` URI, where the store knows them."""
    if uri.startswith("runs:/"):
        return {"model_run_id": uri[len("runs:/") :].split("/")[0]}
    if not uri.startswith("models:/"):
        return {}
    name, alias = uri[len("models:/") :], None
    if "@" in name:
        name, alias = name.split("@", 1)
    name, _, version = name.partition("/")
    client = mlflow.tracking.MlflowClient()
    try:
        if alias is not None:
            found = client.get_model_version_by_alias(name, alias)
        elif version.isdigit():
            found = client.get_model_version(name, version)
        else:
            return {}
    except mlflow.exceptions.MlflowException:
        return {}
    return {"model_version": str(found.version), "model_run_id": found.run_id}


def _load_servable_dir(local: Path, uri: str):
    """The exohunt model inside a downloaded servable model folder, and its metadata."""
    import joblib

    from exohunt.errors import ModelError
    from exohunt.serving import check_model_file

    candidates = list(local.rglob("model.joblib"))
    if not candidates:
        raise ModelError(
            f"{uri} is not an exohunt servable model: it has no model.joblib artifact "
            f"(use the '{SERVABLE_MODEL}' model of an exohunt run, or models:/exohunt-<experiment>@champion)"
        )
    metas = list(local.rglob("model_metadata.json"))
    metadata = json.loads(metas[0].read_text()) if metas else {}
    check_model_file(candidates[0], metadata)  # before unpickling: a model file is code
    model = joblib.load(candidates[0])
    return model, metadata
