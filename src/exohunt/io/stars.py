"""Light curves one star at a time, from every source exohunt reads, in bounded memory.

:func:`iter_stars` yields :class:`StarCurve` objects: one per star for FITS files (the quarters or
sectors of a star stitched, each divided by its own median), one per line of a JSON Lines file, one
per row of a flux CSV, Kaggle table or Parquet file, and one per star of lightkurve
``LightCurve``/``LightCurveCollection`` objects. FITS files are grouped by the star id in their
names and read star by star; JSON Lines and Parquet are streamed, so memory follows the stars in
hand, not the size of a sector.

A star that cannot be read (a broken file, no usable cadence, files of several missions) comes out
with ``problem`` set, a one-line reason, and no light curve: the caller skips it and goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exohunt.errors import DataError
from exohunt.io._files import READ_ERRORS, one_line, open_binary, unreadable
from exohunt.io.columns import STAR_ID_COLUMNS, id_strings, star_id_from_name
from exohunt.io.lightcurves import LIGHTCURVE_SUFFIXES, read_fits_file

_FITS = (".fits", ".fits.gz", ".fit")
_JSONL = (".jsonl", ".jsonl.gz")
#: Time systems by mission, for sources that do not say (BKJD = BJD - 2454833, BTJD = BJD -
#: 2457000).
MISSION_TIME_SYSTEMS = {"Kepler": "BKJD", "K2": "BKJD", "TESS": "BTJD"}


@dataclass
class StarCurve:
    """One star's light curve: time in days (``time_system``), flux relative or as given."""

    star_id: str
    time: np.ndarray | None
    flux: np.ndarray | None
    mission: str = ""
    time_system: str = ""
    source: str = ""  # file names, or a line or row of a file
    problem: str | None = None  # why the star cannot be scanned (then no light curve)
    meta: dict = field(default_factory=dict)


def iter_stars(data, format: str = "auto") -> Iterator[StarCurve]:
    """Every star of ``data``: a path (FITS file or folder, JSON Lines, flux CSV, Kaggle CSV,
    Parquet with a ``flux`` column), a lightkurve ``LightCurve``/``LightCurveCollection`` or a
    list of them, or a :class:`~exohunt.dataset.Dataset` with light curves.

    Raises DataError when ``data`` is none of these or holds no light curves at all.
    """
    if is_lightkurve(data) or (
        isinstance(data, (list, tuple)) and data and all(is_lightkurve(x) for x in data)
    ):
        yield from _from_lightkurve(data)
        return
    if hasattr(data, "has_lightcurves"):  # a Dataset
        yield from _from_dataset(data)
        return
    path = Path(data)
    if not path.exists():
        raise DataError(f"no such file or folder: {path} (check the path)")
    name = path.name.lower()
    if path.is_dir():
        yield from _from_files(sorted(p for p in path.rglob("*") if _is_lightcurve_file(p)), path)
    elif name.endswith(_FITS + _JSONL):
        yield from _from_files([path], path)
    elif name.endswith(".parquet"):
        yield from _from_parquet(path)
    else:
        from exohunt.io.read import read_dataset

        yield from _from_dataset(read_dataset(path, format))


def count_stars(data) -> int | None:
    """How many stars :func:`iter_stars` will yield, when that is cheap to know (else None)."""
    if not isinstance(data, (str, Path)):
        return None
    path = Path(data)
    if path.is_dir():
        files = [p for p in path.rglob("*") if _is_lightcurve_file(p)]
    elif path.is_file() and path.name.lower().endswith(_FITS + _JSONL):
        files = [path]
    else:
        return None
    fits = {_star_key(p) for p in files if p.name.lower().endswith(_FITS)}
    return len(fits) + sum(_count_lines(p) for p in files if p.name.lower().endswith(_JSONL))


# --------------------------------------------------------------------------- files
def _is_lightcurve_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(LIGHTCURVE_SUFFIXES)


def _star_key(path: Path) -> str:
    return star_id_from_name(path.name) or path.name


def _count_lines(path: Path) -> int:
    count = 0
    try:
        with open_binary(path) as handle:
            for line in handle:
                count += bool(line.strip())
    except READ_ERRORS:  # a damaged gzip stream: reading the stars reports it
        pass
    return count


def _from_files(paths: list[Path], source: Path) -> Iterator[StarCurve]:
    if not paths:
        raise DataError(
            f"no light-curve files (*.fits, *.fits.gz, *.jsonl) in {source} (check the folder)"
        )
    by_star: dict[str, list[Path]] = {}
    for path in paths:
        if path.name.lower().endswith(_FITS):
            by_star.setdefault(_star_key(path), []).append(path)
        else:
            yield from _from_jsonl(path)
    for key, files in by_star.items():
        yield _read_fits_star(key, files)


def _read_fits_star(key: str, files: list[Path]) -> StarCurve:
    """The FITS files of one star stitched in time order, each divided by its own median."""
    names = ", ".join(p.name for p in files)
    parts = []
    for path in files:
        try:
            parts.append(read_fits_file(path))
        except DataError as exc:
            return StarCurve(key, None, None, source=names, problem=one_line(exc))
    missions = sorted({c.mission or "unknown" for c in parts})
    systems = sorted({(c.time_system or "").split(" ")[0] for c in parts})
    star = parts[0].star or key
    if len(missions) > 1 or len(systems) > 1:
        return StarCurve(
            star, None, None, source=names,
            problem=f"files of {len(missions)} missions ({', '.join(missions)}) with times in "
            f"{' and '.join(s or 'unknown' for s in systems)}: scan each mission's files "
            "separately",
        )  # fmt: skip
    time = np.concatenate([c.time for c in parts])
    flux = np.concatenate([c.flux for c in parts])
    order = np.argsort(time, kind="stable")
    return StarCurve(star, time[order], flux[order], missions[0], systems[0], names,
                     meta={"files": len(parts)})  # fmt: skip


def _from_jsonl(path: Path) -> Iterator[StarCurve]:
    try:
        yield from _jsonl_stars(path)
    except READ_ERRORS as exc:  # a truncated or corrupt gzip stream: the rest is lost
        yield StarCurve(f"{path.stem}-unreadable", None, None, source=path.name,
                        problem=one_line(unreadable(path, exc)))  # fmt: skip


def _jsonl_stars(path: Path) -> Iterator[StarCurve]:
    seen: dict[tuple, int] = {}
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                record = json.loads(line)
                flux = _floats(record["flux"])
                time = None if record.get("time") is None else _floats(record["time"])
                if time is not None and time.shape != flux.shape:
                    raise ValueError(f"{time.size} time values but {flux.size} flux values")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield StarCurve(f"{path.stem}-line-{number}", None, None, source=where,
                                problem=f"not JSON: {one_line(exc)}")  # fmt: skip
                continue
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                yield StarCurve(f"{path.stem}-line-{number}", None, None, source=where,
                                problem=f"needs a 'flux' list of numbers: {one_line(exc)}")  # fmt: skip
                continue
            name = str(record.get("name", ""))
            star = record.get("star_id")
            star = str(star) if star not in (None, "") else (star_id_from_name(name) or "")
            star = star or f"{path.stem}-line-{number}"
            mission = str(record.get("mission") or "")
            if not mission and star_id_from_name(name):
                mission = "TESS" if name.lower().startswith("tess") else "Kepler"
            system = str(record.get("time_system") or MISSION_TIME_SYSTEMS.get(mission, ""))
            key = (star, flux.size, float(np.nansum(flux[:100])))
            if key in seen:
                yield StarCurve(star, None, None, mission, system, where,
                                problem=f"the same light curve as line {seen[key]} of "
                                f"{path.name} (a repeated line)")  # fmt: skip
                continue
            seen[key] = number
            yield StarCurve(star, time, flux, mission, system, where, meta={"name": name})


def _floats(values) -> np.ndarray:
    if not isinstance(values, list):
        raise TypeError(f"expected a list of numbers, got {type(values).__name__}")
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    if array.ndim != 1:
        raise ValueError(f"expected a flat list of numbers, got shape {array.shape}")
    return array


def _from_parquet(path: Path) -> Iterator[StarCurve]:
    from exohunt.services.distributed import read_parquet_chunks

    row = 0
    for frame in read_parquet_chunks(path, chunk_rows=200):
        if "flux" not in frame.columns:
            raise DataError(
                f"{path} has no 'flux' column; columns are: {', '.join(map(str, frame.columns))} "
                "(give one light curve per row in a list column named flux)"
            )
        yield from _from_frame(frame, path.name, row)
        row += len(frame)


def _from_frame(frame, source: str, first_row: int = 0) -> Iterator[StarCurve]:
    id_column = next((c for c in STAR_ID_COLUMNS if c in frame.columns), None)
    ids = id_strings(frame[id_column]) if id_column else [""] * len(frame)
    times = frame["time"] if "time" in frame.columns else [None] * len(frame)
    system = {"tic_id": "BTJD", "tid": "BTJD", "kepid": "BKJD"}.get(id_column, "")
    mission = {"BTJD": "TESS", "BKJD": "Kepler"}.get(system, "")
    for i, (star, flux, time) in enumerate(zip(ids, frame["flux"], times, strict=True)):
        row = first_row + i
        has_time = time is not None and np.ndim(time) > 0
        yield StarCurve(
            star or f"row-{row}",
            np.asarray(time, dtype=float) if has_time else None,
            np.asarray(flux, dtype=float),
            mission,
            system if has_time else "days from the first cadence",
            f"{source} row {row}",
        )


def _from_dataset(dataset) -> Iterator[StarCurve]:
    if not dataset.has_lightcurves:
        raise DataError(
            f"{dataset.source} [{dataset.format}] has no light curves to scan (give FITS, JSON "
            "Lines, a flux CSV, a Kaggle LABEL/FLUX.n table or Parquet with a flux column)"
        )
    frame = dataset.table.copy()
    frame["flux"] = list(dataset.flux)
    frame["time"] = list(dataset.time) if dataset.time is not None else [None] * len(frame)
    if not any(c in frame.columns for c in STAR_ID_COLUMNS):
        frame["star_id"] = dataset.groups
    yield from _from_frame(frame, Path(dataset.source).name)


# --------------------------------------------------------------------------- lightkurve
def is_lightkurve(obj) -> bool:
    """A lightkurve ``LightCurve`` (any mission's subclass) or ``LightCurveCollection``."""
    return any(
        cls.__module__.startswith("lightkurve")
        and cls.__name__ in ("LightCurve", "LightCurveCollection")
        for cls in type(obj).__mro__
    )


def _from_lightkurve(data) -> Iterator[StarCurve]:
    """Stars of lightkurve objects: light curves of one target (``KEPLERID``, ``TICID``,
    ``TARGETID`` or ``OBJECT``) stitched, each divided by its own median."""
    items = data if isinstance(data, (list, tuple)) else [data]
    curves = []
    for item in items:
        curves.extend(list(item) if type(item).__name__ == "LightCurveCollection" else [item])
    by_star: dict[str, list] = {}
    for lc in curves:
        meta = getattr(lc, "meta", {}) or {}
        star = next(
            (meta[k] for k in ("KEPLERID", "TICID", "TARGETID", "OBJECT") if meta.get(k)), ""
        )
        by_star.setdefault(str(star) or f"lightcurve-{len(by_star) + 1}", []).append(lc)
    for star, parts in by_star.items():
        times, fluxes, systems, missions = [], [], set(), set()
        for lc in parts:
            time = np.asarray(lc.time.value, dtype=float)
            flux = np.asarray(getattr(lc.flux, "value", lc.flux), dtype=float)
            keep = np.isfinite(time) & np.isfinite(flux)
            time, flux = time[keep], flux[keep]
            median = np.median(flux) if flux.size else np.nan
            fluxes.append(flux / median if np.isfinite(median) and median > 0 else flux)
            times.append(time)
            systems.add(str(getattr(lc.time, "format", "")).upper())
            mission = str(lc.meta.get("MISSION") or lc.meta.get("TELESCOP") or "")
            missions.add({"KEPLER": "Kepler"}.get(mission.upper(), mission))
        source = f"lightkurve ({len(parts)} light curve{'s' if len(parts) > 1 else ''})"
        if len(systems) > 1 or len(missions) > 1:
            yield StarCurve(star, None, None, source=source,
                            problem=f"light curves of several missions ({', '.join(sorted(missions))}) "
                            "with different time systems: scan each mission's separately")  # fmt: skip
            continue
        time = np.concatenate(times)
        order = np.argsort(time, kind="stable")
        yield StarCurve(star, time[order], np.concatenate(fluxes)[order], missions.pop(),
                        systems.pop(), source)  # fmt: skip
