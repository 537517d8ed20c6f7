"""The tracking store: resolved the same way by every command, created once and safely, and
the checks on a tracking server. Passwords in URIs are redacted in everything shown."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from exohunt.errors import ExohuntError, MissingDependencyError

#: The exohunt package folder (its source: for cache keys, import paths and git).
PACKAGE_DIR = Path(__file__).resolve().parents[1]

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "exoplanet-detection"

#: Seconds the tracking worker keeps retrying, with backoff, while the store does not answer (a
#: server down or restarting, a SQLite file locked by another process) before it gives up and the
#: command reports what was not recorded. ``EXOHUNT_TRACKING_RETRY_SECONDS`` overrides it.
RETRY_SECONDS = 120.0


def retry_seconds() -> float:
    """The retry budget: ``EXOHUNT_TRACKING_RETRY_SECONDS``, else :data:`RETRY_SECONDS`.
    Raises ExohuntError for a value that is not a number of seconds."""
    from exohunt._env import env_seconds

    return env_seconds("EXOHUNT_TRACKING_RETRY_SECONDS", RETRY_SECONDS)


class StoreUnavailableError(ExohuntError):
    """The tracking store did not answer (server down, database locked) for the whole retry
    budget; raised by the worker, so the message says what happened and for how long."""


def _unavailable_reason(exc: BaseException) -> str | None:
    """Why the store did not answer, if that is what ``exc`` (or an exception it chains) says:
    a server that refuses connections, times out or answers 502/503/504, or a SQLite database
    locked by another process. None for any other error (it is not retried)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        lowered = text.lower()
        if "database is locked" in lowered or "database table is locked" in lowered:
            return "the SQLite database is locked by another process"
        for marker, reason in (
            ("connection refused", "the server refuses connections"),
            ("max retries exceeded", "the server does not answer"),
            ("connection aborted", "the server dropped the connection"),
            ("remotedisconnected", "the server dropped the connection"),
            ("connection reset", "the server dropped the connection"),
            ("read timed out", "the server did not answer in time"),
            ("connecttimeout", "the server did not answer in time"),
        ):
            if marker in lowered:
                return reason
        status = getattr(exc, "get_http_status_code", lambda: None)()
        if status in (429, 502, 503, 504):
            return f"the server answers HTTP {status}"
        exc = exc.__cause__ or exc.__context__
    return None


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
