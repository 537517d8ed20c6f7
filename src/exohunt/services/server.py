"""``exohunt server``: one MLflow tracking server for a team.

Runs ``mlflow server`` with runs, metrics and the model registry in PostgreSQL and artifacts
proxied by the server (``--serve-artifacts``): clients upload and download models and plots
through it, so they need only ``--tracking-uri http://host:port`` and no database or bucket
credentials. Artifacts go to ``--artifacts-destination``: a local folder, or an object store URL
such as ``s3://bucket/path``.

Before starting, the database is checked (a short connect) and MLflow's schema is created or
checked once, so several workers never race to migrate a fresh database. The password of the
backend URI is never printed, logged or put on the ``mlflow server`` command line (where ``ps``
would show it): it is handed to PostgreSQL's client library in ``PGPASSWORD``.

With ``--auth`` the server runs MLflow's own authentication (``mlflow server --app-name
basic-auth``): every request needs a user name and password, users and their per-experiment and
per-model permissions live in the same PostgreSQL database (tables ``users``, ``roles``, ...), and
the admin is created on the first start from ``$EXOHUNT_ADMIN_PASSWORD`` or
``--admin-password-file``, never from the command line (:mod:`exohunt.services._auth`: the
settings, MLflow's private settings file, the server's environment).

Run it with ``exohunt server ...`` or ``python -m exohunt.services.server ...`` (same options).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from exohunt.errors import ConfigError, ExohuntError, MissingDependencyError
from exohunt.services._auth import (
    ADMIN_PASSWORD_ENV,
    DEFAULT_ADMIN,
    DEFAULT_PERMISSIONS,
    add_auth_env,
    auth_config_file,
    auth_settings,
    check_auth_dependencies,
    forget_admin_password,
    report_auth,
)
from exohunt.services._process import run_until_stopped

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_ARTIFACTS = "mlartifacts"  # beside the working directory, as MLflow's own default
#: Seconds to wait for PostgreSQL to accept a connection before reporting it unreachable.
CONNECT_TIMEOUT_SECONDS = 5
#: Seconds to wait for the started server to answer /health before reporting "ready" anyway.
READY_TIMEOUT_SECONDS = 120
_SCHEMES = ("postgresql://", "postgresql+psycopg2://")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def default_workers() -> int:
    """Server processes: one per core, at least 1 and at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``exohunt server`` (shared by the CLI and ``python -m exohunt.services.server``)."""
    parser.add_argument(
        "--backend-store-uri",
        default=None,
        help="PostgreSQL database for runs and the model registry, "
        "postgresql+psycopg2://user[:password]@host:5432/db (default: $MLFLOW_BACKEND_STORE_URI; "
        "leave the password out and use PGPASSWORD or ~/.pgpass)",
    )
    parser.add_argument(
        "--artifacts-destination",
        default=DEFAULT_ARTIFACTS,
        help="where the server stores artifacts: a folder or s3://bucket/path "
        f"(default: ./{DEFAULT_ARTIFACTS})",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default: {DEFAULT_HOST})"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help=f"server processes (default: cores, at most 4: {default_workers()})",
    )
    parser.add_argument(
        "--allowed-hosts",
        help="comma-separated Host names clients may use besides localhost and private "
        "addresses, e.g. mlflow.example.org,mlflow.example.org:*",
    )
    auth = parser.add_argument_group("authentication (MLflow's basic-auth app)")
    auth.add_argument(
        "--auth",
        action="store_true",
        help="require a user name and password on every request; the admin's password comes "
        f"from ${ADMIN_PASSWORD_ENV} or --admin-password-file (serve it behind TLS off localhost)",
    )
    auth.add_argument(
        "--admin-username",
        default=DEFAULT_ADMIN,
        help=f"the admin created on the first start (default: {DEFAULT_ADMIN})",
    )
    auth.add_argument(
        "--admin-password-file",
        metavar="FILE",
        help=f"a file (mode 600) holding the admin's password (default: ${ADMIN_PASSWORD_ENV})",
    )
    auth.add_argument(
        "--default-permission",
        choices=sorted(DEFAULT_PERMISSIONS),
        default="READ",
        help="what users may do with experiments and models not granted to them: READ (the "
        "default) or NO_PERMISSIONS; nobody writes to another's without a grant",
    )


# --------------------------------------------------------------------------- checks
def check_backend_uri(uri: str | None) -> str:
    """The backend URI, or ConfigError when it is missing or not PostgreSQL."""
    from exohunt.tracking import redact

    if not uri:
        raise ConfigError(
            "no backend store: give --backend-store-uri "
            "postgresql+psycopg2://user@host:5432/mlflow (or set MLFLOW_BACKEND_STORE_URI)"
        )
    if not uri.startswith(_SCHEMES):
        raise ConfigError(
            f"--backend-store-uri {redact(uri)} is not a PostgreSQL URI; give "
            "postgresql+psycopg2://user@host:5432/mlflow (for a personal SQLite store use "
            "'exohunt ui')"
        )
    return uri


def split_password(uri: str) -> tuple[str, str | None]:
    """``uri`` without its password, and the password (URL-decoded), or None."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{hostport}")), unquote(parts.password)


def check_database(uri: str, timeout_seconds: int = CONNECT_TIMEOUT_SECONDS) -> None:
    """Connect to the PostgreSQL database of ``uri`` once; raise ExohuntError when it fails.

    A URI without a password uses ``PGPASSWORD`` or ``~/.pgpass``, as every libpq client does.
    """
    try:
        import psycopg2
    except ImportError as exc:
        raise MissingDependencyError(
            "psycopg2-binary", "exohunt server (PostgreSQL)", extra="scale"
        ) from exc
    from sqlalchemy.engine import make_url

    from exohunt.tracking import redact

    url = make_url(uri)
    options = {k: v for k, v in url.query.items() if isinstance(v, str)}
    try:
        connection = psycopg2.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
            connect_timeout=timeout_seconds,
            **options,
        )
    except psycopg2.Error as exc:
        reason, fix = _explain(str(exc), url)
        raise ExohuntError(
            f"cannot connect to PostgreSQL at {redact(uri)}: {reason} ({fix})"
        ) from exc
    connection.close()


def _explain(message: str, url) -> tuple[str, str]:
    """A one-line reason and remedy from libpq's (multi-line) error message."""
    line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    reason = line.split(" failed: ", 1)[-1].replace("FATAL:", "").strip()
    lowered = reason.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return reason, "check the user and password: in the URI, PGPASSWORD or ~/.pgpass"
    if "does not exist" in lowered and "database" in lowered:
        return reason, f"create it: createdb -h {url.host} -p {url.port or 5432} {url.database}"
    if "connection refused" in lowered:
        reason = "connection refused"
    elif "timeout expired" in lowered:
        reason = "no answer within the connect timeout"
    return reason, "start PostgreSQL or fix --backend-store-uri"


def resolve_artifacts_destination(destination: str) -> str:
    """An absolute folder (created) for a local destination; an object-store URL unchanged.

    Raises MissingDependencyError when an ``s3://`` destination lacks boto3.
    """
    scheme = urlsplit(destination).scheme
    if scheme in ("", "file"):
        path = Path(unquote(urlsplit(destination).path) if scheme else destination)
        path = path.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return str(path)
    if scheme == "s3":
        import importlib.util

        if importlib.util.find_spec("boto3") is None:
            raise MissingDependencyError("boto3", "S3 artifact storage (exohunt server)")
    return destination


# --------------------------------------------------------------------------- the command
def server_command(
    backend_store_uri: str,
    artifacts_destination: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int | None = None,
    allowed_hosts: str | None = None,
    auth: bool = False,
) -> list[str]:
    """The ``mlflow server`` command line; the backend URI on it carries no password, and with
    ``auth`` it runs MLflow's basic-auth app (its settings come from the environment)."""
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    command = [str(mlflow_bin) if mlflow_bin.exists() else shutil.which("mlflow") or "mlflow"]
    command += [
        "server",
        "--backend-store-uri",
        split_password(backend_store_uri)[0],
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts_destination,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers or default_workers()),
    ]
    if allowed_hosts:
        command += ["--allowed-hosts", allowed_hosts]
    if auth:
        command += ["--app-name", "basic-auth"]
    return command


def server_env(backend_store_uri: str, auth_config: Path | None = None) -> dict[str, str]:
    """The environment of the server: ours, plus the URI's password as ``PGPASSWORD``.

    MLflow's background job runner (GenAI scorers and trace roll-ups, which exohunt does not
    use) is off unless ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION`` is set: one process fewer.
    With ``auth_config`` (MLflow's basic-auth settings file), see
    :func:`~exohunt.services._auth.add_auth_env`.
    """
    env = dict(os.environ)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    password = split_password(backend_store_uri)[1]
    if password is not None:
        env["PGPASSWORD"] = password
    if auth_config is not None:
        add_auth_env(env, auth_config)
    return env


def server_url(host: str, port: int) -> str:
    """The URL clients use: the bound address, or this machine's name for a wildcard bind."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def serve(
    backend_store_uri: str | None,
    artifacts_destination: str = DEFAULT_ARTIFACTS,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int | None = None,
    say: Callable[[str], None] = lambda message: None,
    allowed_hosts: str | None = None,
    auth: bool = False,
    admin_username: str = DEFAULT_ADMIN,
    admin_password_file: str | None = None,
    default_permission: str = "READ",
) -> int:
    """Run the tracking server until Ctrl-C (or SIGTERM); return the exit code.

    ``backend_store_uri`` None reads ``MLFLOW_BACKEND_STORE_URI``. ``auth`` turns on MLflow's
    basic-auth app (see :func:`auth_settings` for the admin options). Raises ConfigError for bad
    options and ExohuntError when PostgreSQL cannot be reached or the server fails to start;
    messages name the bad value and the fix, with any password shown as ``***``.
    """
    from exohunt.tracking import init_server_store, redact

    uri = check_backend_uri(backend_store_uri or os.environ.get("MLFLOW_BACKEND_STORE_URI"))
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a TCP port (use 1-65535, e.g. --port 5000)")
    workers = workers or default_workers()
    if workers < 1:
        raise ConfigError(f"--workers {workers} must be at least 1 (for example --workers 2)")
    if not auth and admin_password_file:
        raise ConfigError("--admin-password-file is for --auth (add --auth)")
    settings = (
        auth_settings(admin_username, admin_password_file, default_permission) if auth else None
    )
    if settings is not None:
        check_auth_dependencies()
    check_database(uri)
    destination = resolve_artifacts_destination(artifacts_destination)
    init_server_store(uri)  # once, before several workers would each try to migrate
    url = server_url(host, port)
    say(f"backend store: {redact(uri)}")
    say(f"artifacts: {destination} (clients upload and download through the server)")
    if settings is not None:
        report_auth(settings, admin_password_file, say)
    if host not in _LOOPBACK and settings is not None:
        say(
            f"warning: listening on {host} over plain HTTP: basic auth sends a password with "
            "every request (bind 127.0.0.1 behind a TLS-terminating proxy; docs/team.md)"
        )
    elif host not in _LOOPBACK:
        say(
            f"warning: listening on {host}: anyone who can reach this port can read and write "
            "runs and models (keep it on a private network or behind an authenticating proxy, "
            "or use --auth)"
        )
    plural = "s" if workers > 1 else ""
    say(f"MLflow tracking server: {url}   ({workers} worker{plural}; Ctrl-C to stop)")
    say(f"clients: --tracking-uri {url}   or   export MLFLOW_TRACKING_URI={url}")
    if settings is not None:
        say("clients also export MLFLOW_TRACKING_USERNAME=... MLFLOW_TRACKING_PASSWORD=...")

    command = server_command(
        uri, destination, host, port, workers, allowed_hosts, auth=bool(settings)
    )
    with auth_config_file(split_password(uri)[0], settings) as auth_config:

        def ready(process) -> None:
            if _wait_until_ready(process, host, port):
                if auth_config is not None and settings is not None:
                    forget_admin_password(auth_config, split_password(uri)[0], settings)
                say("ready")

        code = run_until_stopped(command, server_env(uri, auth_config), started=ready)
    if code is None:
        say("MLflow server stopped")
        return 0
    if code != 0:
        raise ExohuntError(
            f"mlflow server exited with code {code} (see its messages above; is port {port} "
            "already in use? try another --port)"
        )
    return 0


def _wait_until_ready(process: subprocess.Popen, host: str, port: int) -> bool:
    """Poll ``/health`` until it answers (True), the server exits, or the time is up (False)."""
    import urllib.request

    local = "127.0.0.1" if host in ("0.0.0.0", "", *_LOOPBACK) else host
    if local == "::":
        local = "::1"
    health = f"{server_url(local, port)}/health"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def main(argv: list[str] | None = None) -> int:
    """``python -m exohunt.services.server``: the same options and messages as ``exohunt server``."""
    parser = argparse.ArgumentParser(
        prog="python -m exohunt.services.server", description="A team MLflow tracking server."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    say = lambda message: print(message, flush=True)  # noqa: E731  (this entry point prints)
    try:
        return serve(
            args.backend_store_uri,
            args.artifacts_destination,
            args.host,
            args.port,
            args.workers,
            say,
            args.allowed_hosts,
            auth=args.auth,
            admin_username=args.admin_username,
            admin_password_file=args.admin_password_file,
            default_permission=args.default_permission,
        )
    except ExohuntError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
