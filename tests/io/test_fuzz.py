"""Hostile input, fuzzed: every reader returns valid data or refuses with a one-line DataError.

Real files from ../shared/data are truncated, bit-flipped and edited (tests/io/fuzzing.py), and
hypothesis writes tables and light curves full of infinities, absurd numbers, wrong types and
bytes that are not UTF-8. A few damaged files go through the command line too: exit code 2, one
line on stderr, no traceback, no hang. bench/fuzz.py runs the same damage on many more cases.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exohunt.errors import DataError
from exohunt.io import read_dataset
from exohunt.io.stars import iter_stars
from tests.io.fuzzing import (
    HOSTILE_CELLS,
    build_seeds,
    check_readers,
    damage,
    damages_for,
    flip_bytes,
    set_card,
    truncate,
)

FUZZ = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEPLER_90 = "kplr011442793-2010009091648_llc.fits"


@pytest.fixture(scope="module")
def seeds(shared_data, tmp_path_factory) -> dict:
    return build_seeds(shared_data, tmp_path_factory.mktemp("seeds"), rows=25)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return tmp_path_factory.mktemp("cases")


# --------------------------------------------------------------------------- in process
@FUZZ
@given(data=st.data())
def test_damaged_real_files_are_read_or_refused(seeds, cases, data):
    name = data.draw(st.sampled_from(sorted(seeds)), label="seed")
    how = data.draw(st.sampled_from(damages_for(name)), label="damage")
    rng_seed = data.draw(st.integers(0, 2**16), label="random seed")
    check_readers(damage(seeds[name], how, random.Random(rng_seed), cases / name))


finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(finite, st.floats(), st.sampled_from([1e308, -1e300, 1e101, 5e-324]))
cells = st.one_of(numbers.map(repr), st.sampled_from(HOSTILE_CELLS), st.text(max_size=12))


@FUZZ
@given(
    rows=st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=6),
    wide=st.integers(0, 300),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
    packed=st.booleans(),
)
def test_generated_tables_are_read_or_refused(tmp_path, rows, wide, encoding, packed):
    header = ["kepid", "koi_period", "label", *(f"extra_{i}" for i in range(wide))]
    lines = [",".join(header)] + [",".join([*row, *["1"] * wide]) for row in rows]
    data = "\n".join(lines).encode(encoding, errors="replace")
    path = tmp_path / "table.csv"
    path.write_bytes(gzip.compress(data) if packed else data)
    check_readers(path)


@FUZZ
@given(
    flux=st.lists(numbers | st.none(), max_size=20),
    time=st.none() | st.lists(numbers, max_size=20),
    name=st.sampled_from(["kplr000757450-2013131215648_llc", "kplr" + "9" * 30, "x", ""]),
    suffix=st.sampled_from([".jsonl", ".csv"]),
)
def test_generated_light_curves_are_read_or_refused(tmp_path, flux, time, name, suffix):
    record = {"name": name, "label": "conf", "flux": flux}
    if time is not None:
        record["time"] = time
    if suffix == ".jsonl":  # json writes NaN, Infinity and 1e308 as Python reads them back
        text = json.dumps(record) + "\n"
    else:
        columns = {"label": ["conf"], "flux": [json.dumps(flux).replace("null", "nan")]}
        if time is not None:
            columns["time"] = [json.dumps(time)]
        text = pd.DataFrame(columns).to_csv(index=False)
    path = tmp_path / f"curves{suffix}"
    path.write_text(text)
    check_readers(path)


# --------------------------------------------------------------------------- cases by name
def test_an_npz_with_pickled_objects_is_refused_not_loaded(tmp_path):
    path = tmp_path / "views.npz"
    np.savez(path, global_view=np.zeros((2, 201)), tic_id=np.array([{"a": 1}, None]))
    with pytest.raises(DataError, match=r"views\.npz holds arrays of Python objects.*pickle"):
        read_dataset(path)


def test_a_truncated_gzip_names_the_file_and_the_fix(seeds, tmp_path):
    path = tmp_path / "koi.csv.gz"
    path.write_bytes(seeds["koi.csv.gz"].read_bytes()[:-200])
    with pytest.raises(DataError, match=r"cannot read .*koi\.csv\.gz: .*truncated or corrupt"):
        read_dataset(path)


def test_a_corrupt_gzip_stream_is_refused(seeds, tmp_path):
    data = seeds["toi.csv.gz"].read_bytes()
    path = tmp_path / "toi.csv.gz"
    for rng_seed in range(5):
        path.write_bytes(flip_bytes(data, random.Random(rng_seed)))
        with pytest.raises(DataError, match=r"toi\.csv\.gz"):
            read_dataset(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("NAXIS2", 999999, r"cannot read .* as FITS: .*download it again"),
        ("TFORM1", "'8A      '", r"column TIME of .* holds \|S8 values"),
        ("TTYPE1", "'XTIME'", r"no TIME and flux columns"),
        ("KEPLERID", "'abc'", r"KEPLERID = 'abc' .* is not a star id"),
    ],
)
def test_a_broken_fits_header_is_refused(seeds, tmp_path, key, value, message):
    path = tmp_path / KEPLER_90
    path.write_bytes(set_card(seeds[KEPLER_90].read_bytes(), key, value))
    with pytest.raises(DataError, match=message):
        read_dataset(path)
    (star,) = iter_stars(path)  # the scan skips the star, saying why
    assert star.flux is None and star.problem


@pytest.mark.parametrize("value", ["inf", "-inf", "1e308", "9" * 400])
def test_infinite_and_absurd_numbers_are_refused_with_their_column_and_row(tmp_path, value):
    path = tmp_path / "table.csv"
    path.write_text(f"kepid,koi_period,label\n1,3.5,1\n2,{value},0\n")
    with pytest.raises(DataError, match=r"column 'koi_period' of .* data row 2; the limit is"):
        read_dataset(path)


def test_text_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes("kepid,koi_period,label,name\n1,3.5,1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"is not UTF-8 text.*re-save it with UTF-8"):
        read_dataset(path)


def test_a_very_wide_table_is_read_in_seconds(tmp_path):
    path = tmp_path / "wide.csv"
    header = ",".join(["LABEL", *(f"FLUX.{i}" for i in range(1, 10_001))])
    path.write_text(header + "\n" + "\n".join("2" + ",0.5" * 10_000 for _ in range(2)) + "\n")
    assert check_readers(path, seconds=30) == {"read_dataset": "read", "iter_stars": "read"}


# --------------------------------------------------------------------------- the command line
def run_cli(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exohunt.cli", "-q", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,  # a hang fails the test instead of stalling CI
    )


def assert_one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("seed", "damaged", "message"),
    [
        ("koi.csv.gz", lambda b: truncate(b, random.Random(3)), r"truncated or corrupt"),
        ("views.npz", lambda b: b[: len(b) // 2], r"cannot read .* as a NumPy \.npz archive"),
        ("flux.csv", lambda b: b.replace(b"nan", b"inf", 1), r"infinite or absurdly large"),
    ],
)
def test_train_on_a_damaged_file_exits_2_with_one_line(seeds, tmp_path, seed, damaged, message):
    path = tmp_path / seed
    path.write_bytes(damaged(seeds[seed].read_bytes()))
    done = run_cli("train", path, "--no-mlflow", "--output", tmp_path / "model", cwd=tmp_path)
    assert str(path) in assert_one_line_error(done)


def test_predict_on_an_npz_with_pickled_objects_exits_2(koi_model, tmp_path):
    path = tmp_path / "views.npz"
    np.savez(path, global_view=np.zeros((2, 201)), tic_id=np.array([{"a": 1}, None]))
    done = run_cli("predict", koi_model, path, "--output", tmp_path / "p.csv", cwd=tmp_path)
    assert "holds arrays of Python objects" in assert_one_line_error(done)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize(
    "damaged",
    [
        lambda b: b[:60_000],  # a download that stopped
        lambda b: set_card(b, "TFIELDS", 200, which=0),
        lambda b: set_card(b, "NAXIS2", 0, which=1),
    ],
)
def test_scan_of_a_damaged_fits_file_exits_2_with_one_line(seeds, tmp_path, damaged):
    path = tmp_path / KEPLER_90
    path.write_bytes(damaged(seeds[KEPLER_90].read_bytes()))
    done = run_cli("scan", path, "--no-mlflow", "--output", tmp_path / "c.csv", cwd=tmp_path)
    assert "no star could be scanned" in assert_one_line_error(done)
    stars = pd.read_csv(tmp_path / "c_stars.csv")
    assert stars["status"].tolist() == ["skipped"]
    assert str(path) in stars["reason"][0]
