"""``exohunt ui``: the MLflow UI on the tracking store every other command uses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from exohunt.errors import ConfigError, ExohuntError
from exohunt.services._process import run_until_stopped
from exohunt.tracking import artifact_root_for, redact, resolve_tracking_uri


def ui_command(host: str, port: int, uri: str) -> list[str]:
    """The ``mlflow server`` command line serving ``uri`` on ``host:port``."""
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    command = [str(mlflow_bin) if mlflow_bin.exists() else shutil.which("mlflow") or "mlflow"]
    command += ["server", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    root = artifact_root_for(uri)
    if root:
        command += ["--default-artifact-root", root]
    command += ["--workers", "1"]
    return command


def ui_env() -> dict[str, str]:
    """The UI server's environment: ours, with MLflow's background job runner off unless
    ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION`` is set. The runner (GenAI scorers and trace
    roll-ups, which exohunt does not use) is 8 processes and about 1.3 GB; without it the UI is
    the ``mlflow server`` process and its uvicorn."""
    env = dict(os.environ)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return env


#: Run in a short-lived process: prepare the store, then ask ``mlflow server`` for the uvicorn
#: command and environment it would start, without starting it. MLflow's ``mlflow server`` process
#: only waits for its uvicorn (280 MB and seconds of imports); ``exohunt ui`` runs uvicorn itself.
_PREPARE = """
import json, os, sys
from exohunt.errors import ExohuntError
from exohunt.tracking import prepare_store
try:
    experiment_id = prepare_store(sys.argv[1], sys.argv[2])
except ExohuntError as exc:
    sys.exit(f"error: {exc}")
out = {"experiment_id": experiment_id}
try:
    import mlflow.server
    from mlflow.cli import server

    class _Started:  # what mlflow server's caller sees of the process it did not start
        def poll(self):
            return 0

        def wait(self, *args, **kwargs):
            return 0

        def send_signal(self, signum):
            pass

    def _capture(command, extra_env=None, **kwargs):
        out["command"], out["env"] = list(command), dict(extra_env or {})
        return _Started()

    before = dict(os.environ)
    mlflow.server._exec_cmd = _capture
    try:
        server.main(sys.argv[3:], standalone_mode=False)
    except SystemExit:
        pass
    changed = {k: v for k, v in os.environ.items() if before.get(k) != v}
    out["env"] = {**changed, **out.get("env", {})}
except Exception as exc:  # another MLflow: exohunt ui falls back to `mlflow server`
    out.pop("command", None)
    out["fallback"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def _prepare_apart(uri: str, experiment_name: str, server_args: list[str]) -> dict:
    """Prepare the store (:func:`~exohunt.tracking.prepare_store`) in a short-lived process, so
    that this one, which only watches the server, never holds MLflow's ~200 MB of imports; and
    learn there the uvicorn command ``mlflow server`` would run. ``{"experiment_id", "command",
    "env"}``; no ``command`` when MLflow would not say."""
    import json

    done = subprocess.run(
        [sys.executable, "-c", _PREPARE, uri, experiment_name, *server_args],
        capture_output=True,
        text=True,
        env=ui_env(),
    )
    if done.returncode != 0:
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        message = lines[-1] if lines else f"exit code {done.returncode}"
        raise ExohuntError(message.removeprefix("error: "))
    return json.loads(done.stdout.strip().splitlines()[-1])


def runs_page_url(host: str, port: int, experiment_id: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}/#/experiments/{experiment_id}/runs"


def serve_ui(
    host: str,
    port: int,
    tracking_uri: str | None,
    experiment_name: str,
    say: Callable[[str], None],
) -> int:
    """Run the UI until Ctrl-C; returns the exit code."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a TCP port (use 1-65535, e.g. --port 5000)")
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"{redact(uri)} is already a tracking server: open it in a browser instead of "
            "running 'exohunt ui' (or give a local --tracking-uri)"
        )
    command = ui_command(host, port, uri)
    prepared = _prepare_apart(uri, experiment_name, command[2:])  # the arguments of "server"
    env = ui_env()
    if "command" in prepared:  # uvicorn itself, as `mlflow server` would start it
        command, env = prepared["command"], {**env, **prepared["env"]}
    say(f"tracking: {redact(uri)}")
    say(f"MLflow UI: {runs_page_url(host, port, prepared['experiment_id'])}   (Ctrl-C to stop)")
    code = run_until_stopped(command, env)
    if code is None:
        say("MLflow UI stopped")
        return 0
    return code
