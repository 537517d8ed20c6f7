"""Hostile input for the readers: small real seed files, ways to damage them, and the check that a
reader either returns valid data or refuses with exohunt's own error.

Shared by tests/io/test_fuzz.py (a few examples each, derandomized) and bench/fuzz.py (many).
Every damage is a pure function of the seed's bytes and a ``random.Random``, so a case is
reproduced from its seed name, damage name and random seed.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import random
import re
import signal
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

#: Cell values that a numeric or text column should survive or refuse cleanly.
HOSTILE_CELLS = (
    *("inf", "-inf", "Infinity", "nan", "NaN", "1e308", "-1e308", "1e999", "1e-400", "9" * 400),
    *("", " ", "abc", "0x1F", "1_000", "--", '"', "\x00", "\x0b", "\u2028", "caf\xe9", "[1, 2]"),
)
#: JSON values for a light curve's ``flux`` or ``time``.
HOSTILE_JSON = (
    *("5", "null", '"abc"', "[]", "[[1, 2], [3, 4]]", '{"a": 1}', "[1e999, 1]", "[NaN, 1]"),
    *("[Infinity]", "[true, false]", '["1", "x"]', "[1e308, -1e308]", "[" + "1," * 2000 + "1]"),
)
#: (keyword, value) edits of FITS header cards.
FITS_CARD_EDITS = (
    *(("NAXIS2", 999999), ("NAXIS2", 0), ("NAXIS1", 3), ("TFIELDS", 200), ("TFIELDS", 1)),
    *(("TFORM1", "'8A      '"), ("TFORM1", "'Q'"), ("TFORM4", "'C'"), ("TTYPE1", "'XTIME'")),
    *(("TTYPE4", "'FLUX'"), ("TDIM4", "'(5,5)'"), ("TSCAL4", "1E308"), ("TZERO1", "1E308")),
    *(("KEPLERID", "'abc'"), ("KEPLERID", "1E30"), ("KEPLERID", "-5"), ("BITPIX", 7)),
    *(("XTENSION", "'IMAGE   '"), ("END", ""), ("BJDREFI", "'x'"), ("TEFF", "'hot'")),
)


# --------------------------------------------------------------------------- seeds
def build_seeds(shared_data: Path, folder: Path, rows: int = 40) -> dict[str, Path]:
    """Small real files of every format exohunt reads, written to ``folder``: the first ``rows``
    rows of each NASA table (gzipped, with the archive's ``#`` header), the AstroNet views, the
    Kepler Q17 JSON Lines, a Kepler-90 FITS file, and a flux CSV and a Kaggle CSV built from
    them. Name -> path; the names keep the suffixes the readers look at."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {}
    tables = {
        "koi.csv.gz": "kepler_koi_cumulative.csv.gz",
        "tce.csv.gz": "kepler_q1_q17_dr24_tce.csv.gz",
        "toi.csv.gz": "tess_toi.csv.gz",
        "k2.csv.gz": "k2_pandc.csv.gz",
        "astronet_tces.csv.gz": "tess_astronet_triage_tces.csv.gz",
    }
    for name, source in tables.items():
        lines = gzip.open(shared_data / source, "rt", encoding="utf-8").read().splitlines()
        header = [line for line in lines if line.startswith("#")]
        body = [line for line in lines if not line.startswith("#")][: rows + 1]
        seeds[name] = _write(folder / name, gzip.compress("\n".join(header + body).encode()))
    with np.load(shared_data / "tess_astronet_triage_views.npz") as archive:
        arrays = {key: archive[key][:rows] for key in archive.files}
    seeds["views.npz"] = folder / "views.npz"
    np.savez(seeds["views.npz"], **arrays)
    jsonl = shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl"
    records = [json.loads(line) for line in jsonl.read_text().splitlines()[:3]]
    seeds["q17.jsonl"] = _write(folder / "q17.jsonl", jsonl.read_bytes().split(b"\n", 3)[:3])
    fits_name = "kplr011442793-2010009091648_llc.fits"
    seeds[fits_name] = _write(
        folder / fits_name, (shared_data / "lightcurves" / fits_name).read_bytes()
    )
    flux = pd.DataFrame(
        {
            "kepid": [r["name"][4:13] for r in records],
            "label": [r["label"] for r in records],
            "time": [json.dumps(r["time"][:300]) for r in records],
            "flux": [json.dumps(r["flux"][:300]).replace("NaN", "nan") for r in records],
        }
    )
    seeds["flux.csv"] = folder / "flux.csv"
    flux.to_csv(seeds["flux.csv"], index=False)
    kaggle = pd.DataFrame(
        [[2 if r["label"] == "conf" else 1, *np.nan_to_num(r["flux"][:200])] for r in records],
        columns=["LABEL", *(f"FLUX.{i}" for i in range(1, 201))],
    )
    seeds["kaggle.csv"] = folder / "kaggle.csv"
    kaggle.to_csv(seeds["kaggle.csv"], index=False)
    return seeds


def _write(path: Path, data) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else b"\n".join(data) + b"\n")
    return path


# --------------------------------------------------------------------------- damage
# Each takes the seed's bytes and a random.Random and returns the damaged bytes.
def truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut the file at a random byte (a download that stopped)."""
    return data[: rng.randrange(1, max(2, len(data)))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    """Overwrite 1 to 8 random bytes with random values (bit rot; a corrupt gzip stream)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def flip_header_bytes(data: bytes, rng: random.Random) -> bytes:
    """Overwrite bytes in the first 4 KiB: the gzip header, a FITS header or a CSV header."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(min(len(out), 4096))] = rng.randrange(256)
    return bytes(out)


def inside_gzip(damage: Callable) -> Callable:
    """``damage`` applied to the text inside a gzip file, which is then compressed again."""

    def damaged(data: bytes, rng: random.Random) -> bytes:
        if data[:2] != b"\x1f\x8b":
            return damage(data, rng)
        return gzip.compress(damage(gzip.decompress(data), rng))

    damaged.__name__ = f"{damage.__name__}_inside_gzip"
    return damaged


def edit_cell(data: bytes, rng: random.Random) -> bytes:
    """Replace one to three cells of a CSV data row (or a JSONL line's number) with a hostile
    value: infinity, a huge or tiny number, text, a NUL, a line separator, Latin-1 bytes."""
    text = data.decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line and not line.startswith("#")), 0)
    for _ in range(rng.randint(1, 3)):
        row = rng.randrange(first, len(lines))
        value = rng.choice(HOSTILE_CELLS)
        if lines[row].startswith("{"):
            lines[row] = re.sub(r"-?\d+\.\d+", value or "0", lines[row], count=1)
            continue
        cells = lines[row].split(",")
        cells[rng.randrange(len(cells))] = value
        lines[row] = ",".join(cells)
    out = "\n".join(lines).encode("utf-8", errors="surrogateescape")
    return out.replace("caf\xe9".encode(), b"caf\xe9")  # raw Latin-1, not UTF-8


def widen(data: bytes, rng: random.Random) -> bytes:
    """Add 2,000 to 5,000 columns to a CSV (a very wide table), numbers or infinities."""
    lines = data.decode("utf-8", errors="surrogateescape").rstrip("\n").split("\n")
    header = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    extra = rng.randint(2000, 5000)
    lines[header] += "".join(f",extra_{j}" for j in range(extra))
    value = rng.choice([",0.5", ",-1e-3", ",inf", ","])
    for row in range(header + 1, len(lines)):
        lines[row] += value * extra
    return "\n".join(lines).encode("utf-8", errors="surrogateescape")


def to_latin1(data: bytes, rng: random.Random) -> bytes:
    """Insert Latin-1 and UTF-16 bytes (text that is not UTF-8) at a random place."""
    at = rng.randrange(len(data))
    return data[:at] + rng.choice([b"caf\xe9", b"\xff\xfe", b"\x80\x81"]) + data[at:]


def edit_json(data: bytes, rng: random.Random) -> bytes:
    """Replace the flux or time of a JSONL line with a hostile JSON value."""
    lines = data.split(b"\n")
    row = rng.randrange(max(1, len(lines) - 1))
    key = rng.choice([b"flux", b"time", b"name"])
    value = rng.choice(HOSTILE_JSON).encode()
    if key == b"name":
        value = rng.choice([b'"kplr' + b"9" * 30 + b'-x"', b"5", b'"tess-0-1-a_lc"'])
    lines[row] = re.sub(b'"' + key + rb'": (\[[^\]]*\]|"[^"]*")', b'"' + key + b'": ' + value,
                        lines[row], count=1)  # fmt: skip
    return b"\n".join(lines)


def edit_card(data: bytes, rng: random.Random) -> bytes:
    """Rewrite one header card of a FITS file (in any header) with a hostile value."""
    key, value = rng.choice(FITS_CARD_EDITS)
    return set_card(data, key, value, rng.randrange(3))


def set_card(data: bytes, key: str, value, which: int = 0) -> bytes:
    """``data`` with the ``which``-th (0-based, else the last) FITS card ``key`` set to ``value``."""
    cards = [i for i in range(0, len(data) - 80, 80) if data[i : i + 8] == key.ljust(8).encode()]
    if not cards:
        return data
    at = cards[min(which, len(cards) - 1)]
    card = key.ljust(8) + ("= " + str(value).rjust(20) if key != "END" else "XXX")
    return data[:at] + card.ljust(80)[:80].encode("latin-1") + data[at + 80 :]


def fits_columns(data: bytes, rng: random.Random) -> bytes:
    """A FITS file whose TIME or flux column has the wrong type or hostile values."""
    from astropy.io import fits

    with fits.open(io.BytesIO(data)) as hdul:
        primary, table = hdul[0].copy(), hdul[1].copy()
    n = len(table.data)
    time = np.asarray(table.data["TIME"], dtype=float)
    flux = np.asarray(table.data["PDCSAP_FLUX"], dtype=float)
    choice = rng.randrange(9)
    if choice == 0:
        columns = [fits.Column("TIME", "12A", array=time.astype(str)), ("E", flux)]
    elif choice == 1:
        columns = [("D", time), fits.Column("PDCSAP_FLUX", "C", array=flux.astype(complex))]
    elif choice == 2:
        columns = [fits.Column("TIME", "2D", array=np.c_[time, time]), ("E", flux)]
    elif choice == 3:
        columns = [("D", time), fits.Column("PDCSAP_FLUX", "L", array=flux > 0)]
    else:
        values = [np.nan, np.inf, -np.inf, 1e308, -1e300, 1e39, 0.0][choice - 4 : choice - 2]
        flux = flux.copy()
        flux[rng.sample(range(n), rng.randint(1, n))] = rng.choice(values)
        columns = [("D", time), ("D", flux)]
    columns = [
        c if isinstance(c, fits.Column) else fits.Column(name, c[0], array=c[1])
        for name, c in zip(("TIME", "PDCSAP_FLUX"), columns, strict=True)
    ]
    out = io.BytesIO()
    fits.HDUList([primary, fits.BinTableHDU.from_columns(columns)]).writeto(out)
    return out.getvalue()


def npz_arrays(data: bytes, rng: random.Random) -> bytes:
    """A view archive with pickled objects, wrong dtypes or shapes, or hostile numbers."""
    with np.load(io.BytesIO(data)) as archive:
        arrays = {key: archive[key] for key in archive.files}
    n = len(arrays["global_view"])
    key = rng.choice(["global_view", "local_view", "tic_id", "Period", "Disposition"])
    choice = rng.randrange(10)
    if choice == 0:
        arrays[key] = np.array([{"pickled": i} for i in range(n)], dtype=object)
    elif choice == 1:
        arrays[key] = arrays[key].astype(object)
    elif choice == 2:
        arrays[key] = np.full(arrays[key].shape, "abc")
    elif choice == 3:
        arrays[key] = (
            arrays[key].astype(complex) if arrays[key].dtype.kind in "iuf" else arrays[key]
        )
    elif choice == 4:
        arrays[key] = arrays[key][: n // 2]
    elif choice == 5:
        arrays[key] = np.zeros((n, 3, 2))
    elif choice == 6:
        arrays[key] = np.zeros(n, dtype=[("a", "f4"), ("b", "i4")])
    elif choice == 7:
        arrays = {k: v[:0] for k, v in arrays.items()}
    else:
        bad = rng.choice([np.inf, -np.inf, np.nan, 1e308, 1e39])
        values = arrays[key].astype(float) if arrays[key].dtype.kind in "iuf" else arrays[key]
        if values.dtype.kind == "f":
            values.flat[rng.randrange(values.size)] = bad
        arrays[key] = values
    out = io.BytesIO()
    (np.savez_compressed if rng.random() < 0.3 else np.savez)(out, **arrays)
    return out.getvalue()


#: The damage that applies to each kind of seed (by the seed name's suffix).
COMMON = (truncate, flip_bytes, flip_header_bytes, to_latin1)
DAMAGE = {
    ".csv.gz": (*COMMON, inside_gzip(truncate), inside_gzip(edit_cell), inside_gzip(widen)),
    ".csv": (*COMMON, edit_cell, widen),
    ".jsonl": (*COMMON, edit_json, edit_cell),
    ".fits": (*COMMON, edit_card, fits_columns),
    ".npz": (*COMMON, npz_arrays),
}


def damages_for(name: str) -> tuple[Callable, ...]:
    return next(v for suffix, v in DAMAGE.items() if name.endswith(suffix))


def damage(seed: Path, how: Callable, rng: random.Random, folder: Path) -> Path:
    """A damaged copy of ``seed`` in ``folder``, with the seed's file name."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / seed.name
    path.write_bytes(how(seed.read_bytes(), rng))
    return path


# --------------------------------------------------------------------------- the check
@contextlib.contextmanager
def time_limit(seconds: int):
    """TimeoutError if the block runs longer than ``seconds`` (a hang), on the main thread."""

    def expired(signum, frame):
        raise TimeoutError(f"still reading after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_readers(path: Path, seconds: int = 60) -> dict[str, str]:
    """Read ``path`` with :func:`exohunt.io.read_dataset` and :func:`exohunt.io.stars.iter_stars`.

    Returns each reader's outcome, ``"read"`` or ``"refused"`` (an :class:`ExohuntError`). Any
    other exception propagates, and AssertionError says what is wrong with data that was read or
    with a warning that escaped (the CLI would print it).
    """
    from exohunt.errors import ExohuntError
    from exohunt.io import read_dataset
    from exohunt.io.stars import iter_stars

    outcomes = {}
    for reader in ("read_dataset", "iter_stars"):
        with warnings.catch_warnings(record=True) as caught, time_limit(seconds):
            warnings.simplefilter("always")
            try:
                if reader == "read_dataset":
                    assert_valid_dataset(read_dataset(path))
                else:
                    for star in iter_stars(path):
                        assert_valid_star(star)
            except ExohuntError as exc:
                message = str(exc)
                assert message and message.splitlines() == [message], repr(message)
                outcomes[reader] = "refused"
            else:
                outcomes[reader] = "read"
        assert not caught, f"{reader} let warnings out: {[str(w.message) for w in caught]}"
    return outcomes


def assert_valid_dataset(dataset) -> None:
    """What every reader promises: one group per row, 1-D float light curves with times of the
    same shape, 2-D float32 views of one row each, and no infinite or absurd number."""
    from exohunt.io._files import bad_numbers

    n = len(dataset.table)
    assert len(dataset.groups) == n and dataset.groups.dtype.kind == "U"
    if dataset.raw_labels is not None:
        assert len(dataset.raw_labels) == n
    for column in dataset.table.columns:
        values = dataset.table[column]
        if pd.api.types.is_float_dtype(values):
            assert not bad_numbers(values.to_numpy()).any(), column
    for i, flux in enumerate(dataset.flux or []):
        assert isinstance(flux, np.ndarray) and flux.ndim == 1 and flux.dtype.kind == "f"
        assert not bad_numbers(flux).any()
        if dataset.time is not None:
            assert dataset.time[i].shape == flux.shape
            assert not bad_numbers(dataset.time[i]).any()
    for view in (dataset.views or {}).values():
        assert view.dtype == np.float32 and view.ndim == 2 and len(view) == n
        assert not bad_numbers(view).any()


def assert_valid_star(star) -> None:
    """A star comes with a one-line problem and no light curve, or a 1-D float light curve."""
    if star.problem is not None:
        assert star.flux is None and star.problem.splitlines() == [star.problem]
        return
    assert isinstance(star.flux, np.ndarray) and star.flux.ndim == 1
    assert star.flux.dtype.kind == "f"
    assert star.time is None or star.time.shape == star.flux.shape
