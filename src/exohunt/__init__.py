"""exohunt: train, track and serve exoplanet-detection models; scan light curves for planets.

``exohunt.scan(data, model)`` searches light curves (paths, lightkurve ``LightCurve`` and
``LightCurveCollection`` objects) for transit signals: see :func:`exohunt.scanning.scan`. It is
imported on first use, so ``import exohunt`` stays light.
"""

from exohunt._version import __version__

__all__ = ["__version__", "scan"]


def __getattr__(name: str):
    if name == "scan":
        from exohunt.scanning import scan

        return scan
    raise AttributeError(f"module 'exohunt' has no attribute {name!r}")
