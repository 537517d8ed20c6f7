"""Shared fixtures (the real data files in ``../shared/data`` beside the repository, an empty
MLflow store to copy), the test environment, and the order in which the test files run."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

# No warm MLflow spares (exohunt.tracking.worker) outliving the tests: one per test store would
# pile up. tests/test_tracking_worker.py turns them on where it tests them.
os.environ["EXOHUNT_TRACKING_SPARE"] = "0"
# No review pages after every training run (a few seconds each, over a hundred trainings):
# tests/report/ and the tests that check them ask for them with --review-pages.
os.environ["EXOHUNT_REVIEW_PAGES"] = "0"
# OpenMP threads (XGBoost's, and those of scikit-learn and PyTorch) that wait at a barrier sleep
# instead of spinning. The suite runs two xdist workers on two cores: a spinning thread holds a
# core that the other worker (or the thread it waits for) needs, and XGBoost's 200 rounds on the
# KOI subset took 12-25 s instead of 1 s. Set before any OpenMP runtime is loaded; inherited by
# every process the tests start. Results are the same: only how idle threads wait changes.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# A shell without job control starts a background command (`make test &` in a script) with
# SIGINT ignored, `nohup` with SIGHUP ignored, and an ignored signal stays ignored in every
# process started from it: the commands the tests stop with Ctrl-C or hang up on would never see
# it. A handled signal is reset to its default in a child at exec, so handling them here gives
# the commands the signals a terminal would. The suite itself still ignores a hangup.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, lambda signum, frame: None)

#: The test files that take longest (10 s to 2 min each, summed over their tests, on a 2-core
#: machine), slowest first. `make test` runs the files on two xdist workers, a whole file to one
#: worker (``--dist loadfile``), each worker taking the next file when it is nearly done. Handed
#: out slowest first, the last files to start are short ones and both workers finish at about the
#: same time; in xdist's own order (the files with most tests first) the last to start were some
#: of the slowest, and one worker ran on alone for up to a minute. Other files follow these, in
#: their usual order. Keep the list roughly up to date with ``--durations``.
SLOWEST_FILES = (
    "tests/test_tracking.py",
    "tests/test_tracking_faults.py",
    "tests/services/test_processes.py",
    "tests/test_tracking_worker.py",
    "tests/test_scanning.py",
    "tests/test_scan_real_long.py",
    "tests/test_train.py",
    "tests/lightcurve/test_inject.py",
    "tests/test_experiments.py",
    "tests/services/test_sweep_faults.py",
    "tests/services/test_sweep.py",
    "tests/services/test_server_auth.py",
    "tests/report/test_report.py",
    "tests/services/test_server.py",
    "tests/test_scan_real.py",
    "tests/services/test_ui.py",
    "tests/report/test_report_in_ui.py",
    "tests/io/test_fuzz.py",
    "tests/test_cli.py",
    "tests/models/test_torch_cnn.py",
    "tests/models/test_torch_mlp.py",
    "tests/report/test_explain.py",
)


def pytest_configure(config):
    # xdist would hand out the files with most tests first, whatever the order below
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """The files of :data:`SLOWEST_FILES` first, slowest first; each file's tests in order."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    root = Path(__file__).resolve().parents[1]

    def file_rank(item) -> int:
        try:
            name = item.path.resolve().relative_to(root).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=file_rank)  # stable: other files keep their order, and each file its tests'


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


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite database with MLflow's schema and nothing else, made once by MLflow
    itself. :func:`tests.support.seed_store` copies it: creating the schema (MLflow's schema
    migrations, some 70) costs each new store one to three seconds of a process. The tests of a
    store's first use (``fresh_store``, the concurrent trainings on a fresh store in
    tests/test_tracking.py, `exohunt experiments` in tests/test_experiments.py, ...) still make
    theirs from nothing."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    SqlAlchemyStore(f"sqlite:///{db}", str(db.parent / "artifacts")).engine.dispose()
    return db


@pytest.fixture
def fresh_store(tmp_path, monkeypatch) -> str:
    """A SQLite tracking store for one test that does not exist yet (the first command to use it
    creates it), set as MLFLOW_TRACKING_URI; the test runs in ``tmp_path``."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    if (
        "mlflow" in sys.modules
    ):  # a URI set in this process by an earlier test wins over the variable
        sys.modules["mlflow"].set_tracking_uri(uri)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def store(fresh_store, empty_store, tmp_path) -> str:
    """A fresh SQLite tracking store for one test, set as MLFLOW_TRACKING_URI: empty, with
    MLflow's schema already in it (a copy of ``empty_store``)."""
    from tests.support import seed_store

    return seed_store(empty_store, fresh_store, tmp_path)
