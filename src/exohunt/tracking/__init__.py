"""Experiment tracking: the only package that imports mlflow.

Training code talks to a :class:`Tracker`; :class:`NullTracker` does nothing and
:class:`MlflowTracker` records to an MLflow store. :func:`make_tracker` picks one, and
:func:`resolve_tracking_uri` resolves the store the same way for every command:
``--tracking-uri``, then ``MLFLOW_TRACKING_URI``, then ``./mlruns`` (SQLite + artifacts).

Modules: :mod:`~exohunt.tracking.store` (the store and servers), :mod:`~exohunt.tracking.access`
(credentials and permissions on a server, checked first), :mod:`~exohunt.tracking.backend`
(the MLflow calls, made in a worker process), :mod:`~exohunt.tracking.worker` (that process and
its warm spares), :mod:`~exohunt.tracking.models` (logging and loading models).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import queue
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

from exohunt.errors import ExohuntError, MissingDependencyError
from exohunt.tracking.access import check_tracking_access
from exohunt.tracking.models import NATIVE_MODEL, SERVABLE_MODEL, load_logged_model
from exohunt.tracking.store import (
    DEFAULT_EXPERIMENT,
    SERVER_CHECK_TIMEOUT_SECONDS,
    StoreUnavailableError,
    artifact_root_for,
    check_tracking_server,
    default_store,
    init_server_store,
    prepare_store,
    redact,
    resolve_tracking_uri,
    retry_seconds,
)
from exohunt.tracking.unrecorded import Unrecorded, UnrecordedError

__all__ = [
    "DEFAULT_EXPERIMENT",
    "NATIVE_MODEL",
    "SERVABLE_MODEL",
    "SERVER_CHECK_TIMEOUT_SECONDS",
    "MlflowTracker",
    "StoreUnavailableError",
    "Unrecorded",
    "UnrecordedError",
    "NullTracker",
    "Tracker",
    "artifact_root_for",
    "check_tracking_access",
    "check_tracking_server",
    "default_store",
    "init_server_store",
    "load_logged_model",
    "make_tracker",
    "prepare_store",
    "redact",
    "resolve_tracking_uri",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- trackers
class Tracker:
    """The tracking interface. This base class records nothing (see :class:`NullTracker`)."""

    enabled = False
    store: str | None = None  # where runs go, as printed to the user
    experiment_id: str | None = None
    source: str | None = None  # the command that makes the runs, shown as their source

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

    def prepare_model_logging(self, model_name: str, modules: tuple[str, ...] = ()) -> None:
        """Get ready to log a ``model_name`` model (imports) while it trains. ``modules``: the
        modules unpickling it imports (its estimator's, its feature steps'), which the caller
        knows and this package does not import itself."""

    def log_model(
        self, fitted, frame, model_name: str, metadata: dict, model_file: Path | None = None
    ) -> Future:
        """Log the fitted model (native flavor and servable pyfunc). The future gives their URIs
        (``{}`` here), once written. ``model_file``: where the model was saved (joblib), if it
        was; spares pickling it again."""
        future: Future = Future()
        future.set_result({})
        return future

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
    models), so they run in a worker process (see :mod:`exohunt.tracking.worker`), fed in order by
    one background thread. Each method queues its call and returns; a run's block ends only when
    everything it queued has been written, and the first tracking error is raised there. Methods
    that return a value wait for it. With ``keep_warm`` (the CLI's choice) the worker may be a
    warm spare left by an earlier command, and :meth:`close` leaves one for the next.

    A tracking server is asked first, before any work: one that does not answer raises
    ExohuntError, one that refuses the credentials (401) or the experiment (403) TrackingError.

    Once the run is open, the worker retries a store that stops answering (for
    ``EXOHUNT_TRACKING_RETRY_SECONDS``, default 120 s) while training goes on. Whatever could
    still not be recorded is kept, per run, in an :class:`Unrecorded` ledger; a run that ends
    with a non-empty ledger is marked FAILED (when the store answers) and its block raises
    :class:`UnrecordedError` carrying the ledger, so the caller can keep the values locally.
    """

    enabled = True

    def __init__(
        self, uri: str, experiment_name: str = DEFAULT_EXPERIMENT, keep_warm: bool = False
    ):
        self.uri = uri
        self.store = redact(uri)
        self.experiment_name = experiment_name
        self._keep_warm = keep_warm
        self._modules: list[str] = []  # what logging the models needs: the next spare imports it
        check_tracking_server(uri)
        check_tracking_access(uri, experiment_name)  # 401/403 now, not after training
        self._queue: queue.Queue = queue.Queue()
        # each queued call: its future and, for a call that records into a run, that run's
        # ledger and what the call records (kept there if it fails)
        self._pending: list[tuple[Future, Unrecorded | None, str, dict]] = []
        self._run_ids: list[Future] = []
        self._ledgers: list[Unrecorded] = []
        from exohunt.tracking.worker import open_channel

        self._channel = open_channel(uri, keep_warm)
        threading.Thread(
            target=_drain, args=(self._queue, self._channel), name="exohunt-tracking", daemon=True
        ).start()
        weakref.finalize(self, self._queue.put, None)  # ends the thread and the worker
        self._opened: Future = self._submit(
            "open", uri, experiment_name, os.getcwd(), retry_seconds=retry_seconds()
        )

    def close(self) -> None:
        """Write what is queued, let the worker go and, for a command that asked for one,
        leave a warm spare for the next command."""
        try:
            self.flush()
        finally:
            # before the thread's own close (on None), which would leave no spare
            modules = tuple(dict.fromkeys(self._modules))
            self._channel.close(leave_spare=self._keep_warm, modules=modules)
            self._queue.put(None)

    def _submit(self, method: str, *args, records: dict | None = None, **kwargs) -> Future:
        """Queue a call of the worker's backend ``method`` and return its future. ``records``:
        what the call records into the open run (see :meth:`Unrecorded.add`), kept in the run's
        ledger if the call fails."""
        future: Future = Future()
        self._queue.put((future, method, args, kwargs))
        ledger = self._ledgers[-1] if records is not None and self._ledgers else None
        self._pending.append((future, ledger, method, records or {}))
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued is written; raise the first tracking error (a failed
        call that records into a run goes into that run's ledger instead)."""
        errors = []
        while self._pending:  # a call stays pending until it is written (Ctrl-C may come first)
            future, ledger, method, records = self._pending[0]
            try:
                future.result(timeout=timeout)
            except Exception as exc:
                if ledger is None:
                    errors.append(exc)
                else:
                    ledger.add(method, records, exc)
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
        if self.source:  # else MLflow names the worker process's "-c" as the run's source
            tags = {"mlflow.source.name": self.source, "mlflow.source.type": "LOCAL"} | (tags or {})
        started = self._submit("start_run", name, nested, tags)
        self._run_ids.append(started)
        ledger = Unrecorded(store=self.store, run_name=name)
        self._ledgers.append(ledger)
        try:
            yield
        except KeyboardInterrupt:
            self._ledgers.pop()
            self._submit("end_run", "KILLED", "interrupted (Ctrl-C)")
            self._finish(quiet=True)
            raise
        except BaseException as exc:
            self._ledgers.pop()
            self._submit("end_run", "FAILED", str(exc)[:5000], type(exc).__name__)
            self._finish(quiet=True)
            raise
        else:
            self._end_recorded(started, ledger)

    def _end_recorded(self, started: Future, ledger: Unrecorded) -> None:
        """End a run whose block finished: FINISHED when everything it logged was recorded;
        else FAILED (if the store answers) and raise UnrecordedError with its ledger."""
        try:
            self.flush()
        except StoreUnavailableError as exc:  # the run's start itself: nothing was recorded
            ledger.start_error = exc
        except KeyboardInterrupt:  # Ctrl-C while the run's records were being written
            self._ledgers.pop()
            self._submit("end_run", "KILLED", "interrupted (Ctrl-C)")
            self._finish(quiet=True)
            raise
        except BaseException:
            self._ledgers.pop()
            self._run_ids.pop()
            raise
        if ledger.start_error is None:
            ledger.run_id = started.result()
        if not ledger:
            self._ledgers.pop()
            self._submit("end_run", "FINISHED")
            self._finish()
            return
        if ledger.run_id is not None:
            self._submit("end_run", "FAILED", ledger.summary(), "UnrecordedError")
        self._ledgers.pop()
        try:
            self._run_ids.pop()
            self.flush(timeout=max(60.0, retry_seconds() + 30))
            ledger.marked_failed = ledger.run_id is not None
        except Exception as exc:
            log.debug("could not mark run %s FAILED: %s", ledger.run_id, exc)
        raise UnrecordedError(ledger)

    def _finish(self, quiet: bool = False) -> None:
        self._run_ids.pop()
        try:
            self.flush(timeout=120 if quiet else None)
        except Exception as exc:
            if not quiet:
                raise
            log.warning("could not record the run's end: %s", exc)

    def run_id(self) -> str | None:
        """The open run's id; None when there is none, or its start was never recorded."""
        try:
            return self._run_ids[-1].result() if self._run_ids else None
        except StoreUnavailableError:
            return None

    def prepare_model_logging(self, model_name: str, modules: tuple[str, ...] = ()) -> None:
        from exohunt.tracking.backend import modules_for_model

        self._modules.extend(modules_for_model(model_name, tuple(modules)))
        self._submit("prepare_model_logging", model_name, tuple(modules))

    def log_params(self, params: dict) -> None:
        self._submit("log_params", dict(params), records={"params": dict(params)})

    def log_metrics(self, metrics: dict, step: int | None = None, prefix: str = "") -> None:
        values = {f"{prefix}{k}": v for k, v in metrics.items()}
        self._submit(
            "log_metrics", dict(metrics), step, prefix, records={"metrics": (values, step)}
        )

    def log_history(self, history: dict[str, list[float]]) -> None:
        history = {k: [float(x) for x in v] for k, v in history.items()}
        self._submit("log_history", history, records={"history": history})

    def set_tags(self, tags: dict) -> None:
        self._submit("set_tags", dict(tags), records={"tags": dict(tags)})

    def tag_run(self, run_id: str, tags: dict) -> None:
        self._submit("tag_run", run_id, dict(tags), records={"tags": dict(tags), "run": run_id})

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        for path in paths:  # one call each: a failure names exactly the files not recorded
            self._submit(
                "log_artifacts", [str(path)], artifact_path, records={"artifacts": [str(path)]}
            )

    def log_dataset(self, dataset, frame, context: str = "training") -> None:
        from exohunt.dataset import ARRAY_COLUMNS

        # the catalogue columns only: light curves stay in this process
        table = frame.drop(columns=[c for c in ARRAY_COLUMNS if c in frame.columns])
        labelled = dataset.labels is not None
        if labelled:
            table = table.assign(exohunt_label=dataset.labels)
        self._submit(
            "log_dataset",
            table,
            str(dataset.source),
            labelled,
            context,
            records={"datasets": [str(dataset.source)]},
        )

    def log_model(
        self, fitted, frame, model_name: str, metadata: dict, model_file: Path | None = None
    ) -> Future:
        """Queue logging of the model; the returned future gives ``{"native", "servable"}`` URIs.
        With ``model_file`` the worker reads the saved model instead of receiving a copy."""
        model = str(model_file) if model_file is not None else fitted.model
        where = str(model_file) if model_file is not None else "(not saved locally)"
        return self._submit(
            "log_model",
            model,
            frame.iloc[:5],
            model_name,
            dict(metadata),
            records={"models": [where]},
        )

    def register(self, model_uri: str, name: str, alias: str = "champion") -> str:
        """Register ``model_uri`` as a new version of ``name``, point ``alias`` at it, and return
        the version."""
        return self._submit("register", model_uri, name, alias).result()


def _drain(requests: queue.Queue, channel) -> None:
    """The background thread of an :class:`MlflowTracker`: make its calls in order. ``None``
    ends it, and lets the worker go (a tracker dropped without :meth:`~MlflowTracker.close` in a
    long-lived process must not leave its worker behind)."""
    while True:
        item = requests.get()
        if item is None:
            channel.close()
            return
        future, method, args, kwargs = item
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(channel.call(method, *args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
