"""The process that makes MLflow's calls for a command, and the warm spare that saves its start-up.

Before MLflow records anything, a process spends seconds of Python on it: importing mlflow (about
2.3 s here) and opening the store (about 1 s), then about 1 s per logged model. In a thread of the
training process that work would hold the GIL against training. So
:class:`exohunt.tracking.MlflowTracker` hands its calls, in order, to a worker process, reached
through a :class:`Channel`:

* a **warm spare** when one is waiting for the same store: a process started at the end of an
  earlier command, which has already imported MLflow and opened the store, and listens on a Unix
  socket in a private folder (``$XDG_RUNTIME_DIR/exohunt-<uid>`` or ``/tmp/exohunt-<uid>``);
* otherwise a **cold** worker, started now and reached through pipes.

A worker serves one command and then exits. Spares are opt-in, since by default a command stops
everything it started: with ``EXOHUNT_TRACKING_SPARE=1`` a command leaves one behind for the next
command, which exits after :data:`IDLE_SECONDS` unused (``EXOHUNT_SPARE_IDLE_SECONDS``). Spares are keyed by the store, the Python
interpreter, exohunt's source files and the ``MLFLOW_*`` and cloud-credential environment, so a
command never talks to a spare with other code or other settings.

Workers run in a process group of their own: Ctrl-C at the terminal reaches only the training
process (which then marks its run KILLED through the worker). A worker whose command goes away
without ending its runs marks them FAILED.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exohunt._version import __version__
from exohunt.errors import ExohuntError
from exohunt.tracking.store import PACKAGE_DIR

log = logging.getLogger(__name__)

#: Seconds an unused warm spare waits for a command before it exits.
IDLE_SECONDS = float(os.environ.get("EXOHUNT_SPARE_IDLE_SECONDS", 900))
#: Seconds a command waits for a spare that is still starting before it starts its own worker.
WARMING_WAIT_SECONDS = 10.0
#: Priority of worker processes (``nice``). Not lower than training's: on a machine where another
#: process keeps a core busy, a worker at nice 10 got about 5% of a core, and a command that waits
#: for its worker at the end took twice as long (23-25 s to 48-50 s for one train).
WORKER_NICE = 0
_MAX_FOLDER_CHARS = 70
_ENV_PREFIXES = ("MLFLOW_", "AWS_", "AZURE_", "GOOGLE_", "DATABRICKS_")


class RemoteError(RuntimeError):
    """An error raised in the worker, carried back as its type name and message."""


# --------------------------------------------------------------------------- the wire
def send(stream, message) -> None:
    """Write one message: an 8-byte length, then the pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little"))
    stream.write(data)
    stream.flush()


def receive(stream):
    """The next message, or None when the other end has gone."""
    try:
        header = stream.read(8)
    except OSError:
        return None
    if header is None or len(header) < 8:
        return None
    size = int.from_bytes(header, "little")
    data = stream.read(size)
    return pickle.loads(data) if data is not None and len(data) == size else None


# --------------------------------------------------------------------------- the command's side
class Channel:
    """Calls into one worker process: ``call(method, *args)`` runs ``method`` of the worker's
    backend (:class:`exohunt.tracking.backend._MlflowBackend`) and returns its result or raises its error.
    """

    def __init__(self, reader, writer, kind: str, uri: str, spare_path: Path | None, process=None):
        self._reader, self._writer = reader, writer
        self.kind = kind  # "warm" (a spare) or "cold" (started for this command)
        self._uri = uri
        self._spare_path = spare_path
        self._process = process
        self._closed = False

    def call(self, method: str, *args, **kwargs):
        try:
            send(self._writer, (method, args, kwargs))
            reply = receive(self._reader)
        except (OSError, ValueError):
            reply = None
        if reply is None:
            code = self._process.poll() if self._process is not None else None
            raise ExohuntError(
                f"the tracking worker stopped{f' (exit code {code})' if code is not None else ''}; "
                "see the messages above, or train with --no-mlflow"
            )
        ok, value = reply
        if ok:
            return value
        raise value

    def close(self, leave_spare: bool = False, modules: tuple[str, ...] = ()) -> None:
        """End the conversation (the worker exits) and, if asked and this was a cold worker,
        start a spare for the next command, with ``modules`` imported."""
        if self._closed:
            return
        self._closed = True
        for stream in (self._writer, self._reader):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        if leave_spare and self.kind == "cold" and self._spare_path is not None:
            start_spare(self._uri, self._spare_path, modules)


def open_channel(uri: str, keep_warm: bool = False) -> Channel:
    """A channel to a warm spare for ``uri`` when there is one (or one is starting), else to a
    cold worker started now."""
    path = spare_path(uri) if keep_warm and spares_enabled() else None
    if path is not None:
        connection = _connect_spare(path)
        if connection is not None:
            return Channel(connection.makefile("rb"), connection.makefile("wb"), "warm", uri, path)
    process = subprocess.Popen(
        [sys.executable, "-c", "from exohunt.tracking.worker import serve_pipes; serve_pipes()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_worker_env(),
        **_own_process_group(),
    )
    return Channel(process.stdout, process.stdin, "cold", uri, path, process)


def spares_enabled() -> bool:
    """Spares are opt-in (``EXOHUNT_TRACKING_SPARE=1``): by default a command leaves no process
    behind it."""
    return os.environ.get("EXOHUNT_TRACKING_SPARE", "0").strip().lower() in {"1", "true", "yes"}


def spare_path(uri: str) -> Path:
    """The socket of the warm spare for ``uri`` with this interpreter, code and environment."""

    folder = (
        Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"exohunt-{os.getuid()}"
    )
    if len(str(folder)) > _MAX_FOLDER_CHARS:  # a Unix socket's path has at most 107 bytes
        folder = Path(tempfile.gettempdir()) / f"exohunt-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    source = PACKAGE_DIR
    code = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in source.rglob("*.py"))
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES))
    key = repr((uri, sys.executable, __version__, code, env))
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.sock"


def _connect_spare(path: Path) -> socket.socket | None:
    """Connect to the spare at ``path``; wait for one that is still starting (it holds the
    lock but has not opened its socket yet), up to WARMING_WAIT_SECONDS."""
    deadline = time.monotonic() + WARMING_WAIT_SECONDS
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(WARMING_WAIT_SECONDS)
            connection.connect(str(path))
            with connection.makefile("rb") as reader:
                ready = receive(reader) == "ready"  # a spare serves one command only
            if ready:
                connection.settimeout(None)
                return connection
        except OSError:
            pass
        connection.close()
        if not _lock_held(path) or time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _lock_held(path: Path) -> bool:
    try:
        with open(_lock_path(path), "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _lock_path(path: Path) -> Path:
    return path.with_suffix(".lock")


def start_spare(uri: str, path: Path, modules: tuple[str, ...] = ()) -> None:
    """Start a detached spare for ``uri`` at ``path``, with ``modules`` imported (what logging
    the last command's models needed; it exits at once if another spare is there)."""
    with contextlib.suppress(OSError), open(path.with_suffix(".log"), "w") as messages:
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os, sys; from exohunt.tracking.worker import serve_spare; "
                "serve_spare(os.environ.pop('EXOHUNT_SPARE_URI'), sys.argv[1], tuple(sys.argv[2:]))",
                str(path),
                *modules,
            ],
            stdin=subprocess.DEVNULL,
            stdout=messages,
            stderr=messages,  # what went wrong, if a spare never appears
            env=_worker_env() | {"EXOHUNT_SPARE_URI": uri},  # not argv: ps shows argv
            close_fds=True,
            **_own_process_group(),
        )


def _worker_env() -> dict:

    package_root = str(PACKAGE_DIR.parent)
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    return os.environ | {"PYTHONPATH": path}


def _own_process_group() -> dict:
    # A process group of its own, so that Ctrl-C at the terminal reaches the command only. Not a
    # session of its own: the kernel would then share the CPU between the two sessions equally,
    # whatever the worker's priority.
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}


# --------------------------------------------------------------------------- the worker's side
def _become_worker() -> None:
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # The backend retries a store that does not answer, within one bounded budget
    # (exohunt.tracking.backend); MLflow's own retries (7, with backoff, per request) would
    # stack minutes on top of it.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # exohunt's own warnings (a store that stops answering) go to this process's stderr: the
    # command's terminal for a cold worker, <socket>.log for a spare. Libraries imported later
    # reconfigure the root logger (importing mlflow.pytorch sets its level to ERROR); these
    # do not depend on it.
    messages = logging.StreamHandler(sys.stderr)
    messages.setFormatter(logging.Formatter("warning: %(message)s"))
    package = logging.getLogger("exohunt")
    package.setLevel(logging.WARNING)
    package.addHandler(messages)
    package.propagate = False
    # MLflow's advisory warnings (type hints, integer columns) are about MLflow usage, not the
    # user's data, and this process has no terminal of its own to show them sensibly.
    import warnings

    warnings.simplefilter("ignore")


def serve_pipes() -> None:
    """A cold worker: calls on stdin, replies on stdout."""
    _become_worker()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else written to stdout goes to stderr, not into the replies
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies, kind="cold")


def serve(reader, writer, kind: str) -> tuple[str, ...]:
    """Answer calls until the command goes away; then end any runs it left open (FAILED).
    Returns the modules logging the command's models needed."""
    from exohunt.tracking.backend import _MlflowBackend

    backend = None
    not_opened: BaseException = ExohuntError("the tracking store was not opened")
    while (message := receive(reader)) is not None:
        method, args, kwargs = message
        try:
            if method == "open":
                uri, experiment_name, cwd = args
                os.chdir(cwd)
                try:
                    backend = _MlflowBackend(uri, experiment_name, worker=kind, **kwargs)
                except BaseException as exc:
                    not_opened = exc  # every later call fails with it, not on a missing backend
                    raise
                value = backend.experiment_id
            elif backend is None:
                raise not_opened
            else:
                value = backend.call(method, *args, **kwargs)
            reply = (True, value)
        except BaseException as exc:
            reply = (False, _portable(exc))
        try:
            send(writer, reply)
        except (BrokenPipeError, ConnectionResetError):
            # the command went away while this call ran (killed, Ctrl-C): as at end of input
            with contextlib.suppress(OSError):
                writer.close()  # its unsent bytes must not fail again at exit
            break
    if backend is None:
        return ()
    backend.abandon()
    return tuple(dict.fromkeys(backend.modules))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it is an exohunt error that survives pickling; else the same error rebuilt
    from its message alone (what it carries beside the message, such as the MLflow exception it
    wraps, may not pickle); else a RemoteError."""
    if isinstance(exc, ExohuntError):
        for candidate in (exc, lambda: type(exc)(str(exc))):
            try:
                error = candidate() if callable(candidate) else candidate
                pickle.loads(pickle.dumps(error))
                return error
            except Exception:
                continue
    return RemoteError(f"{type(exc).__name__}: {exc}")


def serve_spare(uri: str, path: str, modules: tuple[str, ...] = ()) -> None:
    """A warm spare: import MLflow and ``modules`` (what logging models needs), open the store,
    then wait on ``path`` for one command."""
    path = Path(path)
    _become_worker()
    lock = open(_lock_path(path), "a")  # noqa: SIM115  (held across the warm-up)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another spare is starting or waiting
    try:
        from exohunt.tracking.backend import warm_up

        warm_up(uri, modules)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        staging = path.with_name(f"{os.getpid()}.new")
        listener.bind(str(staging))
        listener.listen(1)
        os.replace(staging, path)
        listener.settimeout(IDLE_SECONDS)
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            return
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # ours: the lock is held
            listener.close()
    finally:
        lock.close()  # releases the lock: the next spare may start
    connection.settimeout(None)
    with connection:
        writer = connection.makefile("wb")
        send(writer, "ready")  # the listener is closed: this command is the only one served
        modules = serve(connection.makefile("rb"), writer, kind="warm") or modules
    start_spare(uri, path, modules)
