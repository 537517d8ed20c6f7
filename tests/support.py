"""Helpers shared by test modules (a module of its own: `conftest` names are ambiguous)."""

from __future__ import annotations

import os
import socket

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_system(command: str) -> str:
    """Path of a system program a test needs; skip without it, except on CI, where it fails."""
    import shutil

    path = shutil.which(command)
    if path is None:
        message = f"'{command}' is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
