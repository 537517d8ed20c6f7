"""Shared fixtures: the real data files in ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# No warm MLflow spares (exohunt.tracking.worker) outliving the tests: one per test store would
# pile up. tests/test_tracking_worker.py turns them on where it tests them.
os.environ["EXOHUNT_TRACKING_SPARE"] = "0"
# No review pages after every training run (a few seconds each, over a hundred trainings):
# tests/report/ and the tests that check them ask for them with --review-pages.
os.environ["EXOHUNT_REVIEW_PAGES"] = "0"

#: ``shared/data`` next to the repository checkout (``/work/main`` -> ``/work/shared/data``).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; skipped when absent, except on CI (``CI=true``), where it fails."""
    if not SHARED_DATA.is_dir():
        message = f"real data not found at {SHARED_DATA} (put a copy of shared/ beside the repo)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def kepler90(shared_data, tmp_path_factory) -> Path:
    """The three real Kepler-90 FITS quarters, in a folder of their own."""
    import shutil

    folder = tmp_path_factory.mktemp("k90") / "kepler90"
    folder.mkdir()
    for path in (shared_data / "lightcurves").glob("*.fits"):
        shutil.copy(path, folder)
    return folder


@pytest.fixture(scope="session")
def koi_subset(tmp_path_factory) -> Path:
    """The first 1,500 rows of the bundled (real) KOI table, with its archive header lines."""
    import gzip

    from exohunt.io import bundled_koi_path

    lines = gzip.open(bundled_koi_path(), "rt").read().splitlines()
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    path = tmp_path_factory.mktemp("koi") / "koi_subset.csv"
    path.write_text("\n".join(header + body[:1501]) + "\n")
    return path


@pytest.fixture(scope="session")
def koi_model(tmp_path_factory, koi_subset):
    """A Random Forest trained on the KOI subset (no tracking): a catalogue model. Tests that
    change it work on a copy."""
    from exohunt.cli import main

    out = tmp_path_factory.mktemp("koi-model") / "rf"
    assert main(["-q", "train", str(koi_subset), "--no-mlflow", "--output", str(out)]) == 0
    return out


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    """A fresh SQLite tracking store for one test, also set as MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    if (
        "mlflow" in sys.modules
    ):  # a URI set in this process by an earlier test wins over the variable
        sys.modules["mlflow"].set_tracking_uri(uri)
    monkeypatch.chdir(tmp_path)
    return uri
