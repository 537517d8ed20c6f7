"""``exohunt server --auth``: the settings of MLflow's basic-auth app and how they reach it.

The admin's password is read from ``$EXOHUNT_ADMIN_PASSWORD`` or ``--admin-password-file``
(never the command line) and checked before anything starts. MLflow's settings file is written
into a private folder (0700, file 0600) for the life of the server, loses the admin password
once the server answers, and is deleted when it stops. The server's environment points MLflow at
that file only: MLflow's own ``MLFLOW_AUTH_ADMIN_*`` variables, which would override it, are
dropped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from exohunt.errors import ConfigError, MissingDependencyError

#: Where ``--auth`` reads the admin's password when no ``--admin-password-file`` is given.
ADMIN_PASSWORD_ENV = "EXOHUNT_ADMIN_PASSWORD"
DEFAULT_ADMIN = "admin"
#: What a user may do with experiments and models nobody granted them (MLflow's
#: ``default_permission``); both keep others' runs and models out of their reach for writing.
DEFAULT_PERMISSIONS = {
    "READ": "read every experiment and model",
    "NO_PERMISSIONS": "see only what they created or were granted",
}
MIN_PASSWORD_CHARS = 12  # MLflow refuses shorter passwords
_LEGACY_MLFLOW_PASSWORD = "password1234"  # the default of old MLflow versions; MLflow refuses it


@dataclass(frozen=True)
class AuthSettings:
    """``--auth``: the admin MLflow creates on the first start, and the default permission."""

    admin_username: str
    admin_password: str = field(repr=False)  # never in a repr, a log line or a traceback
    default_permission: str = "READ"


def auth_settings(
    admin_username: str = DEFAULT_ADMIN,
    admin_password_file: str | None = None,
    default_permission: str = "READ",
) -> AuthSettings:
    """The ``--auth`` settings, with the admin password read from ``admin_password_file`` (its
    trailing line break dropped) or else ``$EXOHUNT_ADMIN_PASSWORD``.

    Raises ConfigError when the password is missing, empty, unreadable or one MLflow refuses.
    """
    if admin_password_file:
        path = Path(admin_password_file).expanduser()
        source = f"--admin-password-file {path}"
        try:
            password = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"cannot read {source}: {reason} (give a file holding the admin's password)"
            ) from exc
    elif ADMIN_PASSWORD_ENV in os.environ:
        password, source = os.environ[ADMIN_PASSWORD_ENV], f"${ADMIN_PASSWORD_ENV}"
    else:
        raise ConfigError(
            f"--auth needs the admin's password: set {ADMIN_PASSWORD_ENV} or give "
            "--admin-password-file FILE (mode 600); never put it on the command line"
        )
    if not password:
        raise ConfigError(f"{source} is empty (put the admin's password there)")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(
            f"the admin password from {source} is too short: MLflow needs at least "
            f"{MIN_PASSWORD_CHARS} characters"
        )
    if password != password.strip() or any(c in password for c in "\r\n\0"):
        raise ConfigError(
            f"the admin password from {source} starts or ends with a space or holds a line "
            "break (choose another)"
        )
    if password == _LEGACY_MLFLOW_PASSWORD:
        raise ConfigError(
            f"the admin password from {source} is the publicly known default of old MLflow "
            "versions, which MLflow refuses (choose another)"
        )
    if not admin_username.strip() or admin_username != admin_username.strip():
        raise ConfigError(
            f"--admin-username {admin_username!r} is not a user name (e.g. --admin-username admin)"
        )
    if default_permission not in DEFAULT_PERMISSIONS:
        raise ConfigError(
            f"--default-permission {default_permission} is not one of "
            f"{', '.join(sorted(DEFAULT_PERMISSIONS))}"
        )
    return AuthSettings(admin_username, password, default_permission)


def check_auth_dependencies() -> None:
    """Raise MissingDependencyError when MLflow's basic-auth app cannot run (no Flask-WTF)."""
    import importlib.util

    if importlib.util.find_spec("flask_wtf") is None:  # what mlflow[auth] adds
        raise MissingDependencyError("Flask-WTF", "exohunt server --auth (MLflow's basic-auth)")


def auth_config_text(database_uri: str, auth: AuthSettings, with_password: bool = True) -> str:
    """MLflow's basic-auth settings file (``MLFLOW_AUTH_CONFIG_PATH``) for ``auth``, with users
    and permissions in ``database_uri`` (give it without a password: ``PGPASSWORD`` carries
    that). Values are escaped for MLflow's ConfigParser, which reads ``%`` specially."""

    def value(text: str) -> str:
        return text.replace("%", "%%")

    lines = [
        "[mlflow]",
        f"default_permission = {auth.default_permission}",
        f"database_uri = {value(database_uri)}",
        f"admin_username = {value(auth.admin_username)}",
    ]
    if with_password:
        lines.append(f"admin_password = {value(auth.admin_password)}")
    lines += [
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access = false",
        # a password is checked once a minute per user, not two or three times per request
        # (scrypt, ~0.15 s of CPU each: a training run makes hundreds of requests)
        "auth_cache_ttl_seconds = 60",
    ]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only (0600), replacing it atomically."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


@contextlib.contextmanager
def auth_config_file(database_uri: str, auth: AuthSettings | None) -> Iterator[Path | None]:
    """MLflow's basic-auth settings in a new private folder (0700) for the life of the block,
    then deleted; None without ``auth``. ``database_uri``: without its password."""
    if auth is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="exohunt-auth-"))  # mode 0700
    try:
        path = folder / "basic_auth.ini"
        write_private(path, auth_config_text(database_uri, auth))
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def forget_admin_password(path: Path, database_uri: str, auth: AuthSettings) -> None:
    """Rewrite the settings file at ``path`` without the admin password. Once the server
    answers, MLflow has created the admin (before its workers started), and a restarted worker
    does not read it again."""
    write_private(path, auth_config_text(database_uri, auth, with_password=False))


def add_auth_env(env: dict[str, str], auth_config: Path) -> None:
    """Point MLflow at the settings file ``auth_config`` in ``env``, and at it only: its
    ``MLFLOW_AUTH_ADMIN_*`` variables, which would override the file, are dropped, and the CSRF
    key its sign-in form needs is ``MLFLOW_FLASK_SERVER_SECRET_KEY`` or a new random one."""
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(auth_config)
    env.pop("MLFLOW_AUTH_ADMIN_USERNAME", None)
    env.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
    if not env.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_urlsafe(32)


def report_auth(
    settings: AuthSettings, password_file: str | None, say: Callable[[str], None]
) -> None:
    """Say who the admin is and what users may do; warn about a password file others can read."""
    say(
        f"authentication: on (MLflow basic-auth); admin '{settings.admin_username}' "
        "(created on the first start; users and permissions are kept in the backend store); "
        f"users may {DEFAULT_PERMISSIONS[settings.default_permission]} and write only what "
        "they created or were granted"
    )
    path = Path(password_file).expanduser() if password_file else None
    with contextlib.suppress(OSError):
        if path is not None and path.stat().st_mode & 0o077:
            say(f"warning: {path} is readable by other users (chmod 600 {path})")
