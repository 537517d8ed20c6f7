"""Helpers shared by test modules (a module of its own: `conftest` names are ambiguous)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(capsys, *argv) -> tuple[int, str, str]:
    """``exohunt ARGV`` in this process: (exit code, stdout, stderr)."""
    from exohunt.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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


def seed_store(empty_store: Path, uri: str, cwd: Path | None = None) -> str:
    """Put a copy of ``empty_store`` (the fixture) where the SQLite store ``uri`` lives, as MLflow
    would have created it from ``cwd`` (default: this one), whose ``mlruns`` folder holds the
    Default experiment's artifacts; return ``uri``."""
    import shutil
    import sqlite3
    import time

    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(empty_store, db)
    now = int(time.time() * 1000)
    connection = sqlite3.connect(db)
    try:
        with connection:
            connection.execute(
                "UPDATE experiments SET artifact_location = ?, creation_time = ?, "
                "last_update_time = ? WHERE experiment_id = 0",
                (str((cwd or Path.cwd()).resolve() / "mlruns" / "0"), now, now),
            )
    finally:
        connection.close()
    return uri


def scan_folder(folder, stars=None) -> dict[str, list[dict]]:
    """Every star of a light-curve folder (or those in ``stars``) scanned with the default
    search: star id -> its candidate rows, strongest first."""
    from exohunt.io.stars import iter_stars
    from exohunt.lightcurve.search import SearchSettings
    from exohunt.scanning import scan_star

    out = {}
    for star in iter_stars(folder):
        if stars is None or star.star_id in stars:
            result = scan_star(star, SearchSettings())
            assert result.star["status"] == "scanned", (star.star_id, result.star["reason"])
            out[star.star_id] = result.rows
    return out


def missed_planets(truth, found: dict[str, list[dict]], tolerance: float = 0.005) -> list[str]:
    """The planets of ``truth`` (rows of real_lightcurves/truth.csv for the stars in ``found``,
    with two transits or more in the data) found at no period within ``tolerance``."""

    planets = truth[(truth["label"] == "planet") & (truth["transits_in_data"] >= 2)]
    planets = planets[planets["star_id"].astype(str).isin(found)]
    return [
        name
        for name, star, period in zip(
            planets["name"], planets["star_id"], planets["period_days"], strict=True
        )
        if not matches(found[str(star)], period, tolerance)
    ]


def matches(rows: list[dict], period: float, tolerance: float = 0.005) -> list[dict]:
    """The periodic rows within ``tolerance`` (a fraction) of ``period``."""
    import numpy as np

    return [
        r for r in rows if np.isfinite(r["period"]) and abs(r["period"] / period - 1) < tolerance
    ]


def triage_subset(shared_data, folder, planets: int, others: int, seed: int = 0):
    """A .npz in ``folder`` of real TESS Triage views: ``planets`` PC and ``others`` EB or J,
    chosen at random, with every metadata array. Returns its path."""
    import numpy as np

    arrays = dict(np.load(shared_data / "tess_astronet_triage_views.npz"))
    rng = np.random.default_rng(seed)
    is_pc = arrays["Disposition"] == "PC"
    rows = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(is_pc), planets, False),
                rng.choice(np.flatnonzero(~is_pc), others, False),
            ]
        )
    )
    path = folder / "views_subset.npz"
    np.savez(path, **{name: values[rows] for name, values in arrays.items()})
    return path


def session_processes(leader: int) -> list[str]:
    """Command lines of every live process in the session ``leader`` started (a process started
    with ``start_new_session=True``), orphans included: what a command left behind."""
    found = []
    for proc in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{proc}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and fields[3] == str(leader):
                with open(f"/proc/{proc}/cmdline", "rb") as handle:
                    found.append(handle.read().decode(errors="replace"))
        except (OSError, IndexError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
