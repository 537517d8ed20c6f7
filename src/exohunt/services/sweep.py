"""``exohunt sweep``: a hyperparameter search with Optuna, every trial tracked in MLflow.

The labelled rows are split by star once, exactly as ``exohunt train`` splits them (same
``--test-size`` and ``--random-state``), and trials see only the training part. Each trial sets
the estimator's hyperparameters from :data:`SEARCH_SPACES`, fits through
:func:`exohunt.train.fit_model` (the one training path) and is scored by the average precision on
the validation stars that fit_model holds out of the training part. The test split plays no part
in choosing: it is read once, by the final model.

One MLflow parent run per worker holds a nested run per trial. At the end the study's best trial
is tagged ``best_trial=true``, its settings are retrained through :func:`exohunt.train.train`
(which scores the test split) and registered as ``exohunt-<experiment>`` with alias ``champion``.

Workers on several machines join one study through ``--storage``, an Optuna database URL such
as ``postgresql+psycopg2://user@db:5432/optuna``; without it the study lives in memory for this
command only. Network trials report the validation loss after every epoch, and the pruner stops
poor ones early.

A study database that stops answering (restarted, briefly unreachable) is waited for: every call
on it is retried with backoff for ``EXOHUNT_SWEEP_RETRY_SECONDS`` (60 s by default) while the
trials go on, and a write whose answer was lost is read back before it is tried again, so no
trial is lost or counted twice. A database down for longer stops the worker with one line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from exohunt.config import TrainConfig
from exohunt.errors import ConfigError, ExohuntError, optional_import
from exohunt.evaluate import split_by_star
from exohunt.experiments import registered_model_name
from exohunt.models import get_model, make_estimator
from exohunt.tracking import DEFAULT_EXPERIMENT, NullTracker, Tracker, redact
from exohunt.train import Progress, TrainResult, fit_model, labelled_rows, load_data, train

log = logging.getLogger(__name__)

#: The score every trial is chosen by, on the validation stars (higher is better).
OBJECTIVE = "average_precision"

#: What is searched for each model: ``name: (kind, ...)`` with kind ``"int"`` (low, high, step),
#: ``"float"`` (low, high), ``"log"`` (low, high, sampled on a log scale) or ``"choice"``
#: (options). Names are the estimator's parameters, except the network's ``n_layers`` and
#: ``first_layer_units``, which make ``hidden_layers`` (each layer half the width of the last).
SEARCH_SPACES: dict[str, dict[str, tuple]] = {
    "random_forest": {
        "n_estimators": ("int", 100, 600, 50),
        "max_depth": ("int", 4, 32, 1),
        "min_samples_leaf": ("int", 1, 10, 1),
        "max_features": ("choice", ("sqrt", "log2", 0.5, 1.0)),
    },
    "xgboost": {
        "n_estimators": ("int", 100, 1000, 50),  # most rounds; early stopping picks fewer
        "max_depth": ("int", 2, 10, 1),
        "learning_rate": ("log", 0.01, 0.3),
        "subsample": ("float", 0.5, 1.0),
        "colsample_bytree": ("float", 0.5, 1.0),
        "min_child_weight": ("log", 0.5, 20.0),
        "reg_lambda": ("log", 1e-3, 10.0),
    },
    "nn": {
        "learning_rate": ("log", 1e-4, 1e-2),
        "batch_size": ("choice", (32, 64, 128, 256)),
        "dropout": ("float", 0.0, 0.5),
        "weight_decay": ("log", 1e-6, 1e-2),
        "n_layers": ("int", 1, 3, 1),
        "first_layer_units": ("choice", (32, 64, 128, 256)),
    },
    "cnn": {
        "learning_rate": ("log", 1e-4, 1e-2),
        "batch_size": ("choice", (32, 64, 128)),
        "dropout": ("float", 0.0, 0.5),
        "weight_decay": ("log", 1e-6, 1e-2),
    },
}
_LAYER_PARAMS = ("n_layers", "first_layer_units")  # searched in place of hidden_layers


@dataclass
class SweepResult:
    study_name: str
    storage: str  # password redacted, or "in memory"
    trials: dict[str, int]  # this worker's trials by final state: complete, pruned, fail
    best_trial: int  # the study's best so far, from any worker
    best_value: float  # its validation average precision
    best_params: dict
    final: TrainResult | None  # the best settings retrained and tested
    registered: str | None  # "models:/name@champion (version N)"
    output_dir: Path
    run_id: str | None  # the parent MLflow run
    study: object = None  # the optuna.Study, with every worker's trials


# --------------------------------------------------------------------------- search space
def search_space(model: str) -> dict[str, tuple]:
    """The hyperparameters searched for ``model``: :data:`SEARCH_SPACES`, less any its
    estimator does not take. Raises ConfigError for a model without a search space."""
    name = get_model(model).name
    if name not in SEARCH_SPACES:
        raise ConfigError(
            f"no search space for model '{model}'; sweep one of: "
            f"{', '.join(SEARCH_SPACES)} (use --model)"
        )
    accepted = set(make_estimator(name).get_params())
    if "hidden_layers" in accepted:
        accepted |= set(_LAYER_PARAMS)
    space = {k: v for k, v in SEARCH_SPACES[name].items() if k in accepted}
    skipped = sorted(set(SEARCH_SPACES[name]) - set(space))
    if skipped:
        log.info("%s takes no %s; not searched", name, ", ".join(skipped))
    return space


def estimator_params(params: dict) -> dict:
    """A trial's parameters as the estimator's (``n_layers`` and ``first_layer_units`` become
    ``hidden_layers``, e.g. 3 and 128 give (128, 64, 32))."""
    params = dict(params)
    if all(k in params for k in _LAYER_PARAMS):
        n_layers, first = params.pop("n_layers"), params.pop("first_layer_units")
        params["hidden_layers"] = tuple(max(8, first // 2**i) for i in range(n_layers))
    return params


def _suggest(trial, space: dict[str, tuple]) -> dict:
    params = {}
    for name, (kind, *args) in space.items():
        if kind == "int":
            low, high, step = args
            params[name] = trial.suggest_int(name, low, high, step=step)
        elif kind in ("float", "log"):
            params[name] = trial.suggest_float(name, *args, log=kind == "log")
        else:
            params[name] = trial.suggest_categorical(name, args[0])
    return params


# --------------------------------------------------------------------------- the study
def _import_optuna():
    return optional_import("optuna", "exohunt sweep", extra="scale")


def open_study(
    storage: str | None,
    study_name: str,
    sampler=None,
    pruner=None,
    retry_seconds: float | None = None,
):
    """Create the study, or join it when another worker made it (also at the same moment).

    ``storage`` None keeps it in memory. A database that does not answer (down, restarting) is
    waited for, here and in every later call on the study, for ``retry_seconds`` (default
    :func:`default_retry_seconds`); see :class:`_RetryingStorage`. Raises ExohuntError when the
    database cannot be used, StorageUnavailableError when it does not answer in that time.
    """
    optuna = _import_optuna()
    import sqlalchemy.exc

    outage = _Outage(
        storage or "", default_retry_seconds() if retry_seconds is None else retry_seconds
    )

    def create():
        with _storage_lock(storage):
            rdb = None
            if storage is not None:
                with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    rdb = optuna.storages.RDBStorage(
                        storage,
                        engine_kwargs={"pool_pre_ping": True},
                        heartbeat_interval=HEARTBEAT_SECONDS,
                        grace_period=GRACE_SECONDS,
                    )
                rdb = _RetryingStorage(optuna, rdb, outage)
            return optuna.create_study(
                storage=rdb,
                study_name=study_name,
                direction="maximize",
                load_if_exists=True,
                sampler=sampler,
                pruner=pruner,
            )

    try:
        study = outage.retrying(create)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        raise ExohuntError(
            f"cannot open the Optuna storage {redact(storage or '')}: {_first_line(exc)} "
            "(start the database, or fix --storage, e.g. postgresql+psycopg2://user@host/optuna)"
        ) from exc
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ConfigError(
            f"study '{study_name}' minimises its objective; exohunt sweeps maximise validation "
            "average precision (use another --study-name)"
        )
    return study


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    reason = line.split(" failed: ", 1)[-1].replace("FATAL:", "").strip()
    return "connection refused" if "connection refused" in reason.lower() else reason


@contextlib.contextmanager
def _storage_lock(storage: str | None) -> Iterator[None]:
    """Serialise first-time table creation of an Optuna database across workers: a PostgreSQL
    advisory lock, or a file lock beside a SQLite file."""
    if storage is None:
        yield
    elif storage.startswith("postgresql"):
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        engine = sqlalchemy.create_engine(storage, poolclass=NullPool)
        key = 0x6578_6F68  # "exoh"
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            engine.dispose()
    elif storage.startswith("sqlite:///"):
        import fcntl

        db = Path(storage[len("sqlite:///") :])
        db.parent.mkdir(parents=True, exist_ok=True)
        with open(db.parent / f".{db.name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield


# --------------------------------------------------------------------------- outages
#: Seconds a worker waits, retrying with backoff, for a study database that does not answer (down
#: or restarting) before the sweep stops with an error. ``EXOHUNT_SWEEP_RETRY_SECONDS`` overrides.
RETRY_SECONDS = 60.0
HEARTBEAT_SECONDS = 60  # a running trial's heartbeat; another worker fails it after GRACE_SECONDS
GRACE_SECONDS = 180  # without one (its worker died)
_MAX_BACKOFF_SECONDS = 8.0
_CLAIM = "exohunt.claim"  # system attribute: which ask made the trial


class StorageUnavailableError(ExohuntError):
    """The study's database did not answer for the whole retry budget."""


def default_retry_seconds() -> float:
    """The retry budget: ``EXOHUNT_SWEEP_RETRY_SECONDS``, else :data:`RETRY_SECONDS`. Raises
    ConfigError for a value that is not a number of seconds."""
    from exohunt._env import env_seconds

    return env_seconds("EXOHUNT_SWEEP_RETRY_SECONDS", RETRY_SECONDS)


def _unavailable_reason(exc: BaseException | None) -> str | None:
    """Why the database did not answer, if that is what ``exc`` (or an exception it chains)
    says: refused or dropped connections, a server shutting down or starting up, a SQLite file
    locked by another process. None for any other error (it is not retried)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        lowered = str(exc).lower()
        for markers, reason in (
            (("connection refused",), "the database refuses connections"),
            (
                ("the database system is", "due to administrator command"),
                "the database is restarting",
            ),
            (
                ("server closed the connection", "connection already closed", "eof detected")
                + ("could not receive data", "could not send data", "no connection to the server")
                + ("connection reset",),
                "the database dropped the connection",
            ),
            (("timeout expired", "timed out"), "the database does not answer"),
            (("database is locked",), "the SQLite database is locked by another process"),
        ):
            if any(marker in lowered for marker in markers):
                return reason
        if getattr(exc, "connection_invalidated", False):  # SQLAlchemy saw the connection die
            return "the database dropped the connection"
        exc = exc.__cause__ or exc.__context__
    return None


class _Outage:
    """The retries on one study database: a call that meets a database that does not answer is
    tried again with backoff (0.5 s doubling to 8 s). One outage has one budget, ``seconds``:
    once spent, every call until the database answers again is tried once."""

    def __init__(self, uri: str, seconds: float):
        self.shown, self.seconds = redact(uri), seconds
        self.started: float | None = None  # when the database stopped answering

    def retrying(self, function, *args, recorded=None):
        """``function(*args)``, tried again while the database does not answer. ``recorded()``,
        when given, is asked before each new try whether the call that was cut off took effect
        all the same (the database may commit a write whose answer never arrives): it returns
        that call's result if so, else None. Raises StorageUnavailableError saying which
        database, why and for how long; other errors as they are."""
        delay, again = 0.5, False
        while True:
            try:
                if again and recorded is not None:
                    result = recorded()
                    if result is not None:
                        self._answered()
                        return result
                value = function(*args)
            except Exception as exc:
                reason = _unavailable_reason(exc)
                if reason is None:
                    raise
                now = time.monotonic()
                if self.started is None:
                    self.started = now
                    log.warning("Optuna storage %s: %s; retrying", self.shown, reason)
                left = self.started + self.seconds - now
                if left <= 0:
                    raise StorageUnavailableError(
                        f"Optuna storage {self.shown}: {reason} (retried for "
                        f"{now - self.started:.0f} s; start the database again and rerun this "
                        "worker, or set EXOHUNT_SWEEP_RETRY_SECONDS to wait longer)"
                    ) from exc
                time.sleep(min(delay, left))
                delay, again = min(2 * delay, _MAX_BACKOFF_SECONDS), True
            else:
                self._answered()
                return value

    def _answered(self) -> None:
        if self.started is not None:
            log.info(
                "Optuna storage %s answers again after %.0f s",
                self.shown,
                time.monotonic() - self.started,
            )
            self.started = None


class _RetryingStorage:
    """Optuna's storage for a database (its cached RDB storage), with every call retried while
    the database does not answer (:class:`_Outage`). The two writes that are not idempotent
    check, before trying again, whether the write that was cut off took effect: a new trial
    carries a claim that is looked for, so an outage makes no second trial; a trial's final
    state is read back, so a trial is never told twice nor failed after it completed.

    It stands in for Optuna's ``BaseStorage`` and ``BaseHeartbeat`` (registered as both), and
    hands every other call to the storage it wraps.
    """

    def __init__(self, optuna, rdb, outage: _Outage):
        optuna.storages.BaseStorage.register(_RetryingStorage)
        # Optuna asks isinstance(storage, BaseHeartbeat) (not exported) before heartbeats
        optuna.storages._heartbeat.BaseHeartbeat.register(_RetryingStorage)
        self._optuna, self._outage = optuna, outage
        self._inner = optuna.storages.get_storage(rdb)  # the cached storage Optuna would use

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_inner", "_outage", "_optuna"):
            raise AttributeError(name)
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._outage.retrying(lambda: attribute(*args, **kwargs))

    def create_new_trial(self, study_id: int, template_trial=None) -> int:
        if template_trial is not None:  # a copy of a trial (enqueued or retried)
            return self._outage.retrying(self._inner.create_new_trial, study_id, template_trial)
        running = self._optuna.trial.TrialState.RUNNING
        claim = uuid.uuid4().hex
        template = self._optuna.trial.FrozenTrial(
            number=-1,
            state=running,
            value=None,
            datetime_start=datetime.now(),
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={_CLAIM: claim},
            intermediate_values={},
            trial_id=-1,
        )

        def made():
            trials = self._inner.get_all_trials(study_id, deepcopy=False, states=(running,))
            mine = [t._trial_id for t in trials if t.system_attrs.get(_CLAIM) == claim]
            for extra in mine[1:]:  # Optuna's own retry may have made it twice
                self._inner.set_trial_state_values(extra, self._optuna.trial.TrialState.FAIL)
            return mine[0] if mine else None

        return self._outage.retrying(
            self._inner.create_new_trial, study_id, template, recorded=made
        )

    def set_trial_state_values(self, trial_id: int, state, values=None) -> bool:
        running = self._optuna.trial.TrialState.RUNNING

        def done():
            trial = self._inner.get_trial(trial_id)
            if state == running == trial.state:
                return False  # popped from the queue, by this worker or another: leave it
            if trial.state == state and trial.values == (None if values is None else list(values)):
                return True
            return None  # not written: try again (a trial finished otherwise raises there)

        return self._outage.retrying(
            self._inner.set_trial_state_values, trial_id, state, values, recorded=done
        )

    def record_heartbeat(self, trial_id: int) -> None:
        # a missed heartbeat only matters after the grace period; the main thread reports outages
        with contextlib.suppress(StorageUnavailableError):
            self._outage.retrying(self._inner.record_heartbeat, trial_id)


def _claim(study, settings: dict[str, str]) -> None:
    """Record this sweep's data and split on the study; refuse to join one made with others
    (their scores would not compare)."""
    existing = study.user_attrs
    for key, value in settings.items():
        if key in existing and existing[key] != value:
            raise ConfigError(
                f"study '{study.study_name}' was made with {key} {existing[key]!r}; this worker "
                f"has {value!r} (use the same settings, or another --study-name)"
            )
    for key, value in settings.items():
        if key not in existing:
            study.set_user_attr(key, value)


# --------------------------------------------------------------------------- the sweep
def run_sweep(
    config: TrainConfig,
    trials: int,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    timeout_seconds: float | None = None,
    experiment_name: str = DEFAULT_EXPERIMENT,
    tracker: Tracker | None = None,
    progress: Progress | None = None,
    dataset=None,
    sampler=None,
    pruner=None,
    retrain_best: bool = True,
    storage_retry_seconds: float | None = None,
) -> SweepResult:
    """Run ``trials`` trials of the study (this worker's share), then retrain and register the
    study's best; see the module docstring.

    ``timeout_seconds`` stops starting new trials after that long. ``sampler`` defaults to TPE
    (seeded by ``config.random_state`` for an in-memory study; unseeded for a shared one, so
    workers do not propose the same trials); ``pruner`` to a median pruner after 5 trials and
    5 epochs. ``retrain_best=False`` only searches (for extra workers of a shared study).
    ``storage_retry_seconds`` is how long a database that does not answer is waited for
    (default :func:`default_retry_seconds`); no trial is lost or counted twice meanwhile.

    Raises
    ------
    ExohuntError
        For bad settings, data or storage, or when no trial of the study has finished;
        StorageUnavailableError when the database does not answer for that long.
    """
    optuna = _import_optuna()
    config = replace(config).validate()
    if trials < 1:
        raise ConfigError(f"--trials {trials} must be at least 1 (for example --trials 50)")
    if timeout_seconds is not None and not timeout_seconds > 0:
        raise ConfigError(f"--timeout {timeout_seconds} must be a positive number of seconds")
    tracker = tracker or NullTracker()
    space = search_space(config.model)
    study_name = study_name or f"exohunt-{experiment_name}-{config.model}"
    if sampler is None:
        seed = None if storage is not None else config.random_state
        sampler = optuna.samplers.TPESampler(seed=seed)
    if pruner is None:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    with _quiet_optuna(optuna):
        study = open_study(storage, study_name, sampler, pruner, storage_retry_seconds)
    dataset = dataset if dataset is not None else load_data(config.data)
    rows = labelled_rows(dataset, config.data.label_column)
    # The split `exohunt train` makes with these settings; trials see only its training part.
    train_idx, _ = split_by_star(
        rows.labels.astype(int), rows.groups, config.test_size, config.random_state
    )
    train_rows = rows.take(train_idx)

    _claim(
        study,
        {
            "exohunt.model": config.model,
            "exohunt.data": f"{Path(str(dataset.source)).name}: {len(rows)} labelled rows",
            "exohunt.split": f"test_size={config.test_size} val_size={config.val_size} "
            f"random_state={config.random_state}",
            "exohunt.flux_features": str(config.flux_features),
        },
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = Path(config.output or Path("models") / f"sweep_{config.model}_{stamp}").resolve()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    shown_storage = redact(storage) if storage else "in memory"
    epochs_reported = "epochs" in make_estimator(config.model).get_params()
    mine: list[int] = []

    def objective(trial) -> float:
        mine.append(trial.number)
        trial.set_user_attr("worker", worker)
        params = _suggest(trial, space)
        trial_config = replace(
            config,
            model_params={**config.model_params, **estimator_params(params)},
            output=None,
        )
        on_epoch = _pruning_callback(optuna, trial) if epochs_reported else None
        pruned = None
        tags = {"optuna.study": study_name, "optuna.trial": str(trial.number)}
        with tracker.run(f"trial_{trial.number}", nested=True, tags=tags):
            run_id = tracker.run_id()
            if run_id:
                trial.set_user_attr("mlflow_run_id", run_id)
            tracker.log_params(params)
            try:
                fitted = fit_model(train_rows, trial_config, on_epoch=on_epoch)
            except optuna.TrialPruned as exc:
                pruned = exc
                tracker.set_tags({"optuna.state": "PRUNED"})
            else:
                value = float(fitted.val_metrics[OBJECTIVE])
                tracker.log_params(
                    {"n_train_samples": fitted.n_train, "n_val_samples": fitted.n_val}
                )
                tracker.log_metrics(
                    {k: v for k, v in fitted.val_metrics.items() if k != "n_samples"},
                    prefix="val_",
                )
                tracker.log_history(fitted.history)
                tracker.set_tags({"optuna.state": "COMPLETE"})
        if pruned is not None:
            raise pruned
        return value

    def report(study, trial) -> None:
        done = len(mine)
        if trial.state == optuna.trial.TrialState.COMPLETE:
            best = study.best_trial
            log.info(
                "trial %d: validation %s %.4f (best %.4f, trial %d)",
                trial.number,
                OBJECTIVE,
                trial.value,
                best.value,
                best.number,
            )
        else:
            log.info("trial %d %s", trial.number, trial.state.name.lower())
        if progress is not None:
            progress("sweep trials", done, trials)

    parent = f"sweep_{config.model}_{stamp}"
    parent_tags = {"exohunt.kind": "sweep", "optuna.study": study_name}
    with _quiet_optuna(optuna), tracker.run(parent, tags=parent_tags):
        tracker.log_params(
            {
                "model_type": config.model,
                "trials": trials,
                "timeout_seconds": timeout_seconds,
                "study_name": study_name,
                "storage": shown_storage,
                "dataset": str(dataset.source),
                "test_size": config.test_size,
                "val_size": config.val_size,
                "random_state": config.random_state,
                "sampler": type(study.sampler).__name__,
                "pruner": type(study.pruner).__name__,
                "objective": f"val_{OBJECTIVE}",
                "search_space": {k: list(v) for k, v in space.items()},
            }
        )
        _run_trials(optuna, study, objective, trials, timeout_seconds, report)
        states = {t.number: t.state.name.lower() for t in study.get_trials(deepcopy=False)}
        counts = {s: sum(states.get(n) == s for n in mine) for s in ("complete", "pruned", "fail")}
        tracker.log_metrics({f"trials_{state}": n for state, n in counts.items()})
        if not any(s == "complete" for s in states.values()):
            raise ExohuntError(
                f"no trial of study '{study_name}' has finished ({counts['pruned']} pruned, "
                f"{counts['fail']} failed here); give more --trials or a longer --timeout"
            )
        best = study.best_trial
        tracker.set_tags(
            {
                "best_trial_number": best.number,
                "best_trial_run_id": best.user_attrs.get("mlflow_run_id", ""),
            }
        )
        tracker.log_params({f"best_{k}": v for k, v in best.params.items()})
        tracker.log_metrics({f"best_val_{OBJECTIVE}": best.value})
        if tracker.enabled and best.user_attrs.get("mlflow_run_id"):
            tracker.tag_run(best.user_attrs["mlflow_run_id"], {"best_trial": "true"})

        final, registered = None, None
        if retrain_best:
            log.info("retraining trial %d's settings on the training stars", best.number)
            best_config = replace(
                config,
                model_params={**config.model_params, **estimator_params(best.params)},
                output=str(output_dir),
            )
            final = train(
                best_config,
                tracker,
                progress,
                dataset=dataset,
                run_name=f"{config.model}_sweep_best_{stamp}",
            )
            servable = final.metadata.get("model_uris", {}).get("servable")
            if tracker.enabled and servable:
                tracker.tag_run(
                    final.run_id, {"optuna.study": study_name, "optuna.best_trial": best.number}
                )
                name = registered_model_name(experiment_name)
                version = tracker.register(servable, name, alias="champion")
                registered = f"models:/{name}@champion (version {version})"
        run_id = tracker.run_id()

    return SweepResult(
        study_name=study_name,
        storage=shown_storage,
        trials=counts,
        best_trial=best.number,
        best_value=float(best.value),
        best_params=dict(best.params),
        final=final,
        registered=registered,
        output_dir=output_dir,
        run_id=run_id,
        study=study,
    )


def _run_trials(optuna, study, objective, trials: int, timeout_seconds, on_trial) -> None:
    """``study.optimize(objective, trials, timeout_seconds, callbacks=[on_trial])``, by ask and
    tell so that every trial is told once, whatever the database did meanwhile.

    As ``optimize`` does: trials whose worker stopped beating for the grace period are failed
    first, and a trial's heartbeat is recorded while it runs. ``optuna.TrialPruned`` prunes the
    trial; any other error fails it and is raised.
    """
    TrialState = optuna.trial.TrialState
    started = time.monotonic()
    for _ in range(trials):
        if timeout_seconds is not None and time.monotonic() - started >= timeout_seconds:
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", "Heartbeat of storage is supposed", UserWarning)
            optuna.storages.fail_stale_trials(study)
            trial = study.ask()
        value, state = None, None  # None: COMPLETE, or FAIL for a value that is not a number
        with _heartbeat(study._storage, trial._trial_id):
            try:
                value = objective(trial)
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except (Exception, KeyboardInterrupt):
                with contextlib.suppress(StorageUnavailableError):  # the error says more
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                raise
        on_trial(study, study.tell(trial, value, state=state, skip_if_finished=True))


@contextlib.contextmanager
def _heartbeat(storage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every heartbeat interval while the block runs, so that if
    this worker dies the others fail its trial after the grace period (none in memory)."""
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    if interval is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-trial-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _pruning_callback(optuna, trial):
    """``on_epoch(step, logs)`` for fit_model: report the validation loss and stop the fit
    (``optuna.TrialPruned``) when the pruner says so. The loss is reported negated, because the
    study maximises and pruners compare intermediate values in the study's direction."""

    def on_epoch(step: int, logs: dict) -> None:
        loss = logs.get("val_loss")
        if loss is None or not math.isfinite(loss):
            return
        trial.report(-float(loss), step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {step + 1} (val_loss {loss:.4f})")

    return on_epoch


@contextlib.contextmanager
def _quiet_optuna(optuna) -> Iterator[None]:
    """Optuna logs every trial at INFO on its own handler; the sweep reports trials itself."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
