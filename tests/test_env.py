"""Settings read from the environment (``exohunt._env``)."""

from __future__ import annotations

import pytest

from exohunt._env import env_seconds
from exohunt.errors import ConfigError


def test_seconds_from_the_environment(monkeypatch):
    monkeypatch.delenv("EXOHUNT_TEST_SECONDS", raising=False)
    assert env_seconds("EXOHUNT_TEST_SECONDS", 60) == 60
    monkeypatch.setenv("EXOHUNT_TEST_SECONDS", " 2.5 ")
    assert env_seconds("EXOHUNT_TEST_SECONDS", 60) == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("EXOHUNT_TEST_SECONDS", bad)
        with pytest.raises(
            ConfigError,
            match=rf"EXOHUNT_TEST_SECONDS='{bad}' is not a number of seconds \(use e.g. 60\)",
        ):
            env_seconds("EXOHUNT_TEST_SECONDS", 60)
