"""Whether this user may record to an experiment on a tracking server, asked before any work.

A server running MLflow's basic-auth app (``exohunt server --auth``) answers 401 to a request
without valid credentials and 403 to a user without permission on the experiment. MLflow's own
client would meet either only at the first call of the worker process, after training has
started. :func:`check_tracking_access` asks the server first, with the credentials MLflow would
send, in a few plain HTTP requests of this process (no mlflow import); :func:`access_error` words
the answer the same way wherever it comes from. Passwords are never shown.
"""

from __future__ import annotations

import configparser
import json
import os
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from exohunt.errors import TrackingError
from exohunt.tracking.store import SERVER_CHECK_TIMEOUT_SECONDS, redact

#: Effective permissions that do not let a user create runs in an experiment (MLflow's
#: ``Permission`` names; creating a run needs ``can_update``: EDIT or MANAGE).
_CANNOT_WRITE = frozenset({"READ", "USE", "DENY", "NO_PERMISSIONS"})
_USERNAME, _PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


def tracking_username(uri: str) -> str | None:
    """The user name MLflow's client sends to ``uri``: ``$MLFLOW_TRACKING_USERNAME``, else
    ``~/.mlflow/credentials``, else the URI's own ``user@``."""
    return _credentials(uri)[0]


def _credentials(uri: str) -> tuple[str | None, str | None]:
    """(user name, password) as MLflow 3's client resolves them (environment over its
    credentials file, each field on its own), else those written in the URI."""
    from_file: tuple[str | None, str | None] = (None, None)
    path = Path("~/.mlflow/credentials").expanduser()
    if path.is_file():
        config = configparser.ConfigParser()
        try:
            config.read(path)
        except (OSError, configparser.Error):
            pass
        else:
            if "mlflow" in config:
                section = config["mlflow"]
                from_file = (section.get(_USERNAME.lower()), section.get(_PASSWORD.lower()))
    username = os.environ.get(_USERNAME) or from_file[0]
    password = os.environ.get(_PASSWORD) or from_file[1]
    if username or password:
        return username, password
    parts = urlsplit(uri)
    if parts.username is not None:  # requests sends these when MLflow has none of its own
        return unquote(parts.username), unquote(parts.password or "")
    return None, None


def _auth_header(uri: str) -> str | None:
    """The Authorization header MLflow's client sends (basic, else bearer), or None."""
    import base64

    username, password = _credentials(uri)
    if username and password:
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return f"Bearer {token}" if token else None


def access_error(
    uri: str,
    status: int,
    experiment_name: str,
    username: str | None = None,
    permission: str | None = None,
) -> TrackingError:
    """The one-line error for the server's ``status`` (401: no valid credentials; 403: no
    permission to write to ``experiment_name``), naming the server (password redacted) and the
    fix. ``username``: who was refused; ``permission``: what they have on the experiment."""
    server = redact(uri)
    if status == 401:
        if username:
            return TrackingError(
                f"the tracking server at {server} refused the request without valid "
                f"credentials (HTTP 401 for user '{username}'): check MLFLOW_TRACKING_USERNAME "
                "and MLFLOW_TRACKING_PASSWORD"
            )
        return TrackingError(
            f"the tracking server at {server} refused the request without valid credentials "
            "(HTTP 401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    who = f"user '{username}'" if username else "this user"
    has = f"; their permission is {permission}" if permission else ""
    return TrackingError(
        f"{who} may not write to experiment '{experiment_name}' on the tracking server at "
        f"{server} (HTTP {status}{has}): ask its owner or an admin for EDIT permission on it, "
        "or use another --experiment-name"
    )


def check_tracking_access(
    uri: str, experiment_name: str, timeout_seconds: float = SERVER_CHECK_TIMEOUT_SECONDS
) -> None:
    """Raise TrackingError (see :func:`access_error`) when the ``http(s)://`` tracking server
    ``uri`` refuses this user (401) or will not let them write to ``experiment_name`` (403, or
    a permission below EDIT on an existing experiment, as MLflow's basic-auth app reports it).

    Other URIs, servers without authentication and answers that settle nothing (a network
    error, an older server) pass: the tracking worker meets and reports them.
    """
    if not uri.startswith(("http://", "https://")) or os.environ.get("MLFLOW_TRACKING_AUTH"):
        return  # MLFLOW_TRACKING_AUTH: a plugin's authentication, which only MLflow can do

    def get(path: str, version: str = "2.0") -> tuple[int | None, dict]:
        return _get(uri, f"/api/{version}/mlflow/{path}", timeout_seconds)

    status, found = get(f"experiments/get-by-name?experiment_name={quote(experiment_name)}")
    if status in (401, 403):
        raise access_error(uri, status, experiment_name, tracking_username(uri))
    if status != 200:
        return  # 404: a new experiment, which this user will create (and own)
    experiment_id = str(found.get("experiment", {}).get("experiment_id", ""))
    status, current = get("users/current")
    user = current.get("user") if status == 200 else None
    if not experiment_id or not isinstance(user, dict) or user.get("is_admin"):
        return  # no authentication on the server, or an admin (who may do everything)
    username = str(user.get("username", ""))
    status, answer = get(
        f"users/permissions/get?username={quote(username)}&resource_type=experiment"
        f"&resource_id={quote(experiment_id)}",
        version="3.0",
    )
    permission = answer.get("permission") if status == 200 else None
    if permission in _CANNOT_WRITE:
        raise access_error(uri, 403, experiment_name, username, permission)


def _get(uri: str, path: str, timeout_seconds: float) -> tuple[int | None, dict]:
    """GET ``path`` on the server of ``uri`` with MLflow's credentials: (HTTP status, JSON
    body or {}); (None, {}) when there was no answer."""
    import urllib.error
    import urllib.request

    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]  # credentials go in the header, not the URL
    route, _, query = path.partition("?")
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + route, query, ""))
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    header = _auth_header(uri)
    if header:
        request.add_unredirected_header("Authorization", header)
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, b""
        exc.close()
    except (OSError, ValueError):
        return None, {}
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {}
    return status, body if isinstance(body, dict) else {}
