"""User-facing errors.

Every error a user can cause is an :class:`ExohuntError`. The CLI prints its message on one line and
exits with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ExohuntError(Exception):
    """A problem the user can fix. The message names the bad value and the fix."""

    exit_code = 2


class DataError(ExohuntError):
    """The input data is missing, unreadable, or unsuitable for the command."""


class ConfigError(ExohuntError):
    """A command-line option or setting is invalid."""


class ModelError(ExohuntError):
    """A saved model cannot be found, loaded or applied to the data."""


class TrackingError(ExohuntError):
    """The tracking store or server refuses the command (credentials, permissions)."""


def optional_import(module: str, feature: str, extra: str, package: str | None = None):
    """Import ``module``, or raise MissingDependencyError naming ``feature`` and the install
    command (``pip install 'exohunt[extra]'``). A missing dependency *of* the module is not
    masked: it raises as it is."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise
        raise MissingDependencyError(package or module, feature, extra=extra) from exc


class MissingDependencyError(ExohuntError):
    """An optional library needed by the requested feature is not installed."""

    def __init__(self, package: str, feature: str, extra: str | None = None):
        install = f"pip install 'exohunt[{extra}]'" if extra else f"pip install {package}"
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed ({install})"
        )
        self.package = package
