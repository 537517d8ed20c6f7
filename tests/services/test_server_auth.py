"""`exohunt server --auth`: MLflow's basic-auth on a real server and a real (throwaway) PostgreSQL.

Alice and Bob are users the admin creates through MLflow's own auth client; Alice records and
registers with `exohunt experiments`, credentials in MLFLOW_TRACKING_USERNAME/PASSWORD; Bob
(default permission READ) tries to change her work over the REST API.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from exohunt.errors import ConfigError
from exohunt.services._auth import AuthSettings, auth_config_text, auth_settings, write_private
from exohunt.services.server import server_command, server_env
from tests.pg import PASSWORD, postgres  # noqa: F401  (postgres is a fixture)
from tests.support import free_port

ADMIN = ("admin", "admin-s3cret-pw-0001")
ALICE = ("alice", "alice-s3cret-pw-0002")
BOB = ("bob", "bob-s3cret-pw-0003")
SECRETS = (ADMIN[1], ALICE[1], BOB[1], PASSWORD)
EXPERIMENT = "alice-exp"
MODEL = f"exohunt-{EXPERIMENT}"
NO_USER_URI = "postgresql+psycopg2://exohunt@127.0.0.1:9/mlflow"  # never reached: checks come first


def require_auth_app() -> None:
    """Skip without MLflow's basic-auth app (Flask-WTF, from mlflow[auth]); fail on CI."""
    import importlib.util

    if importlib.util.find_spec("flask_wtf") is None:
        message = "MLflow's basic-auth app needs Flask-WTF (pip install 'mlflow[auth]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def call(base: str, method: str, path: str, user=None, body: dict | None = None):
    """One REST request, as ``user`` (name, password) or anonymous: (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if user is not None:
        token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def client_env(user) -> dict[str, str]:
    """Our environment with a user's credentials, as docs/team.md tells clients to set them."""
    return dict(os.environ, MLFLOW_TRACKING_USERNAME=user[0], MLFLOW_TRACKING_PASSWORD=user[1])


@contextlib.contextmanager
def signed_in_as(user):
    """MLflow's Python clients in this process use ``user``'s credentials within the block."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ.update(MLFLOW_TRACKING_USERNAME=user[0], MLFLOW_TRACKING_PASSWORD=user[1])
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def descendants(pid: int) -> list[int]:
    """The processes started, directly or not, by ``pid``."""
    parents = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = entry.read_text().rsplit(")", 1)[1].split()
            parents[int(entry.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def mlflow_environ(process: subprocess.Popen) -> dict[str, str]:
    """The environment exohunt gave `mlflow server` (the child that MLflow's settings point to)."""
    for pid in descendants(process.pid):
        lines = read_proc(pid, "environ").splitlines()
        if any(line.startswith("MLFLOW_AUTH_CONFIG_PATH=") for line in lines):
            return dict(line.split("=", 1) for line in lines if "=" in line)
    pytest.fail("no child of exohunt server has MLFLOW_AUTH_CONFIG_PATH")


def read_proc(pid: int, name: str) -> str:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes().replace(b"\0", b"\n").decode()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):  # noqa: F811
    """`exohunt server --auth` on a fresh database; the admin's password in EXOHUNT_ADMIN_PASSWORD,
    the database URI (with its password) in MLFLOW_BACKEND_STORE_URI."""
    require_auth_app()
    uri = postgres.create_database("mlflow")
    folder = tmp_path_factory.mktemp("auth-server")
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    port = free_port()
    env = dict(os.environ, MLFLOW_BACKEND_STORE_URI=uri, EXOHUNT_ADMIN_PASSWORD=ADMIN[1])
    env["PYTHONUNBUFFERED"] = "1"  # its lines reach the file as they are printed
    with open(out, "w") as stdout, open(err, "w") as stderr:  # files: a pipe could fill and block
        process = subprocess.Popen(
            [sys.executable, "-m", "exohunt.cli", "server", "--auth"]
            + ["--artifacts-destination", str(folder / "artifacts"), "--port", str(port)]
            + ["--workers", "1"],
            env=env,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a loaded 2-core machine boots MLflow slowly
    while "ready" not in out.read_text().splitlines():
        if process.poll() is not None:
            pytest.fail(f"exohunt server --auth exited: {err.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("exohunt server --auth was not ready within 300 s")
        time.sleep(0.5)
    yield SimpleNamespace(
        base=base, process=process, out=out, err=err, environ=mlflow_environ(process)
    )
    if process.poll() is None:  # a test failed before the Ctrl-C test: stop it cleanly anyway
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def users(server):
    """Alice and Bob, created by the admin with MLflow's own auth client (docs/team.md)."""
    from mlflow.server import get_app_client

    with signed_in_as(ADMIN):
        admin = get_app_client("basic-auth", tracking_uri=server.base)
        for name, password in (ALICE, BOB):
            admin.create_user(username=name, password=password)
    return ALICE, BOB


@pytest.fixture(scope="module")
def alices_work(server, users, koi_subset, tmp_path_factory):
    """`exohunt experiments` as Alice: her experiment, two runs, and `exohunt-alice-exp@champion`."""
    output = tmp_path_factory.mktemp("alice")
    done = subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "experiments", str(koi_subset)]
        + ["--models", "random_forest", "--experiment-name", EXPERIMENT, "--n-jobs", "1"]
        + ["--tracking-uri", server.base, "--output", str(output)],
        env=client_env(ALICE),
        capture_output=True,
        text=True,
        timeout=900,  # a safety net on a busy machine, not a speed test
    )
    assert done.returncode == 0, done.stderr[-3000:]
    status, found = call(
        server.base, "GET", f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={EXPERIMENT}",
        ALICE,
    )  # fmt: skip
    assert status == 200, found
    experiment_id = found["experiment"]["experiment_id"]
    status, searched = call(
        server.base, "POST", "/api/2.0/mlflow/runs/search", ALICE,
        {"experiment_ids": [experiment_id], "max_results": 100},
    )  # fmt: skip
    assert status == 200, searched
    return SimpleNamespace(
        experiment_id=experiment_id, runs=searched["runs"], stdout=done.stdout, stderr=done.stderr
    )


# --------------------------------------------------------------------------- who may do what
def test_anonymous_and_wrong_password_requests_get_401(server, users):
    search = "/api/2.0/mlflow/experiments/search?max_results=10"
    assert call(server.base, "GET", search)[0] == 401
    assert (
        call(server.base, "POST", "/api/2.0/mlflow/experiments/create", body={"name": "x"})[0]
        == 401
    )
    assert call(server.base, "GET", "/")[0] == 401  # the UI too
    assert call(server.base, "GET", search, (ALICE[0], BOB[1]))[0] == 401
    assert call(server.base, "GET", search, ("mallory", "mallory-pw-000001"))[0] == 401
    assert call(server.base, "GET", "/health")[0] == 200  # only the health check is open
    assert call(server.base, "GET", search, ALICE)[0] == 200


def _train_as(user, server, koi_subset, output: Path, *options: str):
    """`exohunt train` against the server as ``user`` (None: no MLFLOW_TRACKING_* at all)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    if user is not None:
        env.update(MLFLOW_TRACKING_USERNAME=user[0], MLFLOW_TRACKING_PASSWORD=user[1])
    return subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "train", str(koi_subset), "--n-jobs", "1"]
        + ["--tracking-uri", server.base, "--output", str(output), *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_client_without_credentials_stops_before_training_with_one_line(
    server, users, koi_subset, tmp_path
):
    done = _train_as(None, server, koi_subset, tmp_path / "model")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: the tracking server at {server.base} refused the request without valid "
        "credentials (HTTP 401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    ]
    assert "data:" not in done.stdout and not (tmp_path / "model").exists()  # nothing trained


def test_a_wrong_password_stops_before_training_without_showing_it(
    server, users, koi_subset, tmp_path
):
    done = _train_as((ALICE[0], BOB[1]), server, koi_subset, tmp_path / "model")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    assert "401" in lines[0] and "user 'alice'" in lines[0] and server.base in lines[0]
    assert "check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in lines[0]
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)
    assert not (tmp_path / "model").exists()


def test_a_user_without_permission_on_the_experiment_stops_before_training(
    server, alices_work, koi_subset, tmp_path
):
    done = _train_as(BOB, server, koi_subset, tmp_path / "model", "--experiment-name", EXPERIMENT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: user 'bob' may not write to experiment '{EXPERIMENT}' on the tracking server "
        f"at {server.base} (HTTP 403; their permission is READ): ask its owner or an admin for "
        "EDIT permission on it, or use another --experiment-name"
    ]
    assert "data:" not in done.stdout and not (tmp_path / "model").exists()
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)
    status, runs = call(
        server.base, "POST", "/api/2.0/mlflow/runs/search", ALICE,
        {"experiment_ids": [alices_work.experiment_id]},
    )  # fmt: skip
    assert status == 200 and len(runs["runs"]) == len(alices_work.runs)  # Bob left nothing


def test_exohunt_records_and_registers_with_credentials_from_the_environment(server, alices_work):
    assert len(alices_work.runs) == 2  # the experiments parent and its random_forest child
    assert {run["info"]["status"] for run in alices_work.runs} == {"FINISHED"}
    assert f"registered: models:/{MODEL}@champion" in alices_work.stdout
    status, alias = call(
        server.base, "GET", f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion",
        ALICE,
    )  # fmt: skip
    assert status == 200, alias


def test_a_user_cannot_write_to_another_users_experiment(server, alices_work):
    base, experiment_id = server.base, alices_work.experiment_id
    run_id = alices_work.runs[0]["info"]["run_id"]
    get = f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}"
    assert call(base, "GET", get, BOB)[0] == 200  # the default permission: READ
    writes = [
        ("runs/create", {"experiment_id": experiment_id}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "average_precision", "value": 1.0, "timestamp": 0, "step": 0}]}),
        ("runs/set-tag", {"run_id": run_id, "key": "best", "value": "bob"}),
        ("runs/delete", {"run_id": run_id}),
        ("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "v"}),
        ("experiments/delete", {"experiment_id": experiment_id}),
    ]  # fmt: skip
    for endpoint, body in writes:
        status, answer = call(base, "POST", f"/api/2.0/mlflow/{endpoint}", BOB, body)
        assert status == 403, (endpoint, status, answer)
    status, runs = call(
        base, "POST", "/api/2.0/mlflow/runs/search", ALICE, {"experiment_ids": [experiment_id]}
    )
    assert status == 200 and len(runs["runs"]) == 2
    assert all("bob" not in json.dumps(run["data"].get("tags", [])) for run in runs["runs"])
    assert (
        call(base, "POST", "/api/2.0/mlflow/experiments/create", BOB, {"name": "bob-exp"})[0] == 200
    )


def test_a_user_cannot_register_into_another_users_model(server, alices_work):
    base = server.base
    child = next(
        run for run in alices_work.runs
        if {"key": "model_type", "value": "random_forest"} in run["data"].get("params", [])
    )  # fmt: skip
    status, version = call(
        base, "GET", f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion", ALICE
    )
    assert status == 200
    champion = version["model_version"]["version"]
    writes = [
        ("model-versions/create", {"name": MODEL, "source": child["info"]["artifact_uri"],
                                   "run_id": child["info"]["run_id"]}),
        ("registered-models/alias", {"name": MODEL, "alias": "champion", "version": champion}),
        ("registered-models/set-tag", {"name": MODEL, "key": "owner", "value": "bob"}),
    ]  # fmt: skip
    for endpoint, body in writes:
        status, answer = call(base, "POST", f"/api/2.0/mlflow/{endpoint}", BOB, body)
        assert status == 403, (endpoint, status, answer)
    alias = {"name": MODEL, "alias": "champion"}
    assert call(base, "DELETE", "/api/2.0/mlflow/registered-models/alias", BOB, alias)[0] == 403
    assert (
        call(base, "DELETE", "/api/2.0/mlflow/registered-models/delete", BOB, {"name": MODEL})[0]
        == 403
    )
    status, versions = call(
        base, "GET", f"/api/2.0/mlflow/registered-models/get?name={MODEL}", ALICE
    )
    assert status == 200
    assert [v["version"] for v in versions["registered_model"]["latest_versions"]] == [champion]


def test_the_admin_and_owners_grant_permissions_with_mlflows_client(server, users):
    from mlflow.server import get_app_client

    base = server.base
    status, created = call(base, "POST", "/api/2.0/mlflow/experiments/create", ALICE,
                           {"name": "alice-shared"})  # fmt: skip
    assert status == 200, created
    shared = {"experiment_id": created["experiment_id"]}
    assert call(base, "POST", "/api/2.0/mlflow/runs/create", BOB, shared)[0] == 403
    with signed_in_as(ADMIN):
        get_app_client("basic-auth", tracking_uri=base).grant_user_permission(
            "bob", "experiment", created["experiment_id"], "EDIT"
        )
    assert call(base, "POST", "/api/2.0/mlflow/runs/create", BOB, shared)[0] == 200
    assert (
        call(base, "POST", "/api/2.0/mlflow/experiments/delete", BOB, shared)[0] == 403
    )  # not MANAGE

    model = "alice-shared-model"
    assert call(base, "POST", "/api/2.0/mlflow/registered-models/create", ALICE,
                {"name": model})[0] == 200  # fmt: skip
    set_tag, tag = (
        "/api/2.0/mlflow/registered-models/set-tag",
        {"name": model, "key": "k", "value": "v"},
    )
    assert call(base, "POST", set_tag, BOB, tag)[0] == 403
    with signed_in_as(ALICE):  # the owner (MANAGE) grants on what she owns
        get_app_client("basic-auth", tracking_uri=base).grant_user_permission(
            "bob", "registered_model", model, "EDIT"
        )
    assert call(base, "POST", set_tag, BOB, tag)[0] == 200

    mallory = {"username": "mallory", "password": "mallory-pw-000001"}
    assert call(base, "POST", "/api/2.0/mlflow/users/create", BOB, mallory)[0] == 403


# --------------------------------------------------------------------------- secrets
def test_credentials_never_appear_on_command_lines_in_output_or_in_runs(server, alices_work):
    server_processes = descendants(server.process.pid)
    commands = {pid: read_proc(pid, "cmdline") for pid in server_processes}
    assert any("basic-auth" in command for command in commands.values()), commands
    # every process this test session started (the server and all under it among them); not
    # the whole machine: a parallel test worker's own helpers take the test cluster's password
    # as an argument (`exohunt sweep --storage`), which is theirs to show
    ours = [read_proc(pid, "cmdline") for pid in [os.getpid(), *descendants(os.getpid())]]
    for text in ours + [server.out.read_text(), server.err.read_text()]:
        assert not any(secret in text for secret in SECRETS), text[-2000:]
    assert not any(secret in alices_work.stdout + alices_work.stderr for secret in SECRETS)
    status, searched = call(
        server.base, "POST", "/api/2.0/mlflow/runs/search", ADMIN,
        {"experiment_ids": [alices_work.experiment_id]},
    )  # fmt: skip
    assert status == 200
    recorded = json.dumps(searched) + json.dumps(
        call(server.base, "GET", f"/api/2.0/mlflow/registered-models/get?name={MODEL}", ADMIN)
    )
    assert "model_type" in recorded and not any(secret in recorded for secret in SECRETS)


def test_mlflows_settings_file_is_private_and_loses_the_admin_password_once_ready(server):
    settings = Path(server.environ["MLFLOW_AUTH_CONFIG_PATH"])
    assert stat.S_IMODE(settings.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    text = settings.read_text()
    assert "default_permission = READ" in text and "admin_username = admin" in text
    assert "admin_password" not in text and ADMIN[1] not in text and PASSWORD not in text
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in server.environ
    assert server.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"]


def test_ctrl_c_stops_the_server_and_deletes_its_settings(server):
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=180) == 0  # a safety net, not a speed test
    out, err = server.out.read_text(), server.err.read_text()
    assert "authentication: on (MLflow basic-auth); admin 'admin'" in out
    assert "MLflow server stopped" in out and "Traceback" not in err
    assert not any(secret in out + err for secret in SECRETS)
    assert not Path(server.environ["MLFLOW_AUTH_CONFIG_PATH"]).parent.exists()


# --------------------------------------------------------------------------- bad admin setups
@pytest.mark.parametrize(
    ("password_file", "message"),
    [
        (None, "error: --auth needs the admin's password: set EXOHUNT_ADMIN_PASSWORD or give "
               "--admin-password-file FILE (mode 600); never put it on the command line"),
        ("", "error: --admin-password-file {path} is empty (put the admin's password there)"),
        ("\n", "error: --admin-password-file {path} is empty (put the admin's password there)"),
    ],
)  # fmt: skip
def test_a_missing_or_empty_admin_password_is_one_line_and_exit_code_2(
    password_file, message, tmp_path
):
    command = [sys.executable, "-m", "exohunt.cli", "server", "--auth"]
    command += ["--backend-store-uri", NO_USER_URI, "--artifacts-destination", str(tmp_path / "a")]
    path = tmp_path / "admin-password"
    if password_file is not None:
        path.write_text(password_file)
        command += ["--admin-password-file", str(path)]
    env = {k: v for k, v in os.environ.items() if k != "EXOHUNT_ADMIN_PASSWORD"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [message.format(path=path)]
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_admin_passwords_mlflow_would_refuse_are_refused_before_anything_starts(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("EXOHUNT_ADMIN_PASSWORD", "short")
    with pytest.raises(ConfigError, match=r"\$EXOHUNT_ADMIN_PASSWORD is too short: .* at least 12"):
        auth_settings()
    monkeypatch.setenv("EXOHUNT_ADMIN_PASSWORD", "password1234")
    with pytest.raises(ConfigError, match="publicly known default"):
        auth_settings()
    monkeypatch.setenv("EXOHUNT_ADMIN_PASSWORD", " leading-space-pw ")
    with pytest.raises(ConfigError, match="starts or ends with a space"):
        auth_settings()
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=f"cannot read --admin-password-file {missing}: "):
        auth_settings(admin_password_file=str(missing))
    # a file wins over the variable, and loses only its line break
    (tmp_path / "pw").write_text("from-the-file-pw-01\n")
    settings = auth_settings(admin_password_file=str(tmp_path / "pw"))
    assert settings.admin_password == "from-the-file-pw-01"
    assert "from-the-file-pw-01" not in repr(settings)


def test_mlflow_reads_the_settings_exohunt_writes(tmp_path, monkeypatch):
    from mlflow.server.auth.config import read_auth_config

    settings = AuthSettings("boss", "100%-s3cret;#pw", "NO_PERMISSIONS")
    database = "postgresql+psycopg2://exohunt@db:5432/mlflow?sslmode=require&application_name=a%20b"
    path = tmp_path / "basic_auth.ini"
    write_private(path, auth_config_text(database, settings))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(path))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    config = read_auth_config()
    assert (config.admin_username, config.admin_password) == ("boss", "100%-s3cret;#pw")
    assert config.default_permission == "NO_PERMISSIONS" and config.database_uri == database
    assert not config.grant_default_workspace_access

    write_private(path, auth_config_text(database, settings, with_password=False))
    assert read_auth_config().admin_password is None

    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "would-override-the-file")
    env = server_env("postgresql+psycopg2://bob:pg-pw@db/mlflow", path)
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == str(path) and env["PGPASSWORD"] == "pg-pw"
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in env and env["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    command = server_command("postgresql+psycopg2://bob:pg-pw@db/mlflow", "/srv/a", auth=True)
    assert command[-2:] == ["--app-name", "basic-auth"] and "pg-pw" not in " ".join(command)
