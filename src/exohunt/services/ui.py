"""``exohunt ui``: the MLflow UI on the tracking store every other command uses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from exohunt.errors import ConfigError
from exohunt.tracking import artifact_root_for, prepare_store, redact, resolve_tracking_uri


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
    experiment_id = prepare_store(uri, experiment_name)
    say(f"tracking: {redact(uri)}")
    say(f"MLflow UI: {runs_page_url(host, port, experiment_id)}   (Ctrl-C to stop)")
    process = subprocess.Popen(ui_command(host, port, uri), start_new_session=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        say("MLflow UI stopped")
        return 0
