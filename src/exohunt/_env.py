"""Settings read from the environment, checked: a bad value is one line naming it and the fix."""

from __future__ import annotations

import os

from exohunt.errors import ConfigError


def env_seconds(name: str, default: float) -> float:
    """``$name`` as a number of seconds (0 or more), else ``default``; ConfigError otherwise."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{name}={text!r} is not a number of seconds (use e.g. {default:g})")
    return value
