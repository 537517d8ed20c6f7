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


def _prepare_store_apart(uri: str, experiment_name: str) -> str:
    """:func:`~exohunt.tracking.prepare_store` in a short-lived process, so that this one, which
    only watches the server, never holds MLflow's ~200 MB of imports."""
    code = (
        "import sys\n"
        "from exohunt.errors import ExohuntError\n"
        "from exohunt.tracking import prepare_store\n"
        "try:\n"
        "    print(prepare_store(sys.argv[1], sys.argv[2]))\n"
        "except ExohuntError as exc:\n"
        "    sys.exit(f'error: {exc}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, uri, experiment_name], capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        message = lines[-1] if lines else f"exit code {done.returncode}"
        raise ExohuntError(message.removeprefix("error: "))
    return done.stdout.split()[-1]


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
    experiment_id = _prepare_store_apart(uri, experiment_name)
    say(f"tracking: {redact(uri)}")
    say(f"MLflow UI: {runs_page_url(host, port, experiment_id)}   (Ctrl-C to stop)")
    code = run_until_stopped(ui_command(host, port, uri), ui_env())
    if code is None:
        say("MLflow UI stopped")
        return 0
    return code
