"""Scan light curves for transit signals (``exohunt.scan``, ``exohunt scan``): every star
searched, one row per signal, each scored.

:func:`scan` reads stars from any light-curve source (:func:`exohunt.io.stars.iter_stars`), runs
the iterative multi-planet search on each (:func:`exohunt.lightcurve.search.search_star`) in
chunks, on the local cores or on a Dask cluster, and scores every signal with a saved model:

- a model trained on light curves (a ``flux`` column: FITS, JSON Lines, flux CSV, Kaggle,
  simulations) gets the star's light curve with the other signals' transits removed, and the
  signal's period, epoch and duration as the catalogue values its feature step folds on;
- a model trained on AstroNet views (the TESS Triage ``.npz``) gets a global and a local view of
  the signal, built with the same conventions (:mod:`exohunt.lightcurve.views`) from the
  detrended light curve with the other signals' transits removed;
- a model that reads only catalogue columns is refused: it cannot see a light curve.

The candidate columns (:data:`CANDIDATE_COLUMNS`) take lightkurve's and TLS's names where those
have one; docs/scan.md gives the mapping and the units.
"""

from __future__ import annotations

import logging
import os
import time as clock
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.errors import ConfigError, ModelError
from exohunt.io.stars import StarCurve, count_stars, iter_stars
from exohunt.lightcurve.search import (
    SearchResult,
    SearchSettings,
    Signal,
    others_mask,
    search_star,
    signal_views,
    triage_metadata,
)

log = logging.getLogger(__name__)

#: One row per signal, in this order. Units: days, hours (``duration_hours``), ppm (of flux
#: centred on zero, such as z-scores: the flux's units x 10^6); sigma for ``snr``,
#: ``odd_even_mismatch`` and ``secondary_snr``.
CANDIDATE_COLUMNS = (
    "star_id",
    "signal",  # 1, 2, ... in the order found: the strongest first
    "mission",
    "period",  # days; empty for a single transit
    "period_lower_limit",  # days, single transits: no second transit can fall in the data
    "transit_time",  # mid-transit (the epoch), in time_system
    "time_system",  # BKJD (BJD - 2454833), BTJD (BJD - 2457000), or as the source gives it
    "duration_hours",
    "depth_ppm",
    "snr",  # red-noise-aware: depth / scatter over a duration x sqrt(transits)
    "SDE",  # signal detection efficiency of the BLS spectrum
    "depth_snr",  # the BLS's own (white-noise) depth SNR
    "distinct_transit_count",  # transits with data
    "depth_mean_odd_ppm",
    "depth_mean_even_ppm",
    "odd_even_mismatch",  # sigma
    "secondary_depth_ppm",
    "secondary_snr",
    "secondary_phase",  # 0-1 after the transit; 0.5 for a circular binary
    "secondary_albedo",  # the albedo a planet would need for that secondary: over 1, a star's light
    "transit_shape",  # ~1 flat bottom, ~1/3 V
    "period_ratios",  # "2:0.5123;3:1.5406": this period over each other signal's
    "single_transit",
    "doubled",  # found at half the period: odd and even eclipses differed
    "score",  # the model's planet probability; empty without a model
    "star_candidates",  # periodic candidates (score >= 0.5) at unrelated periods on the star
    "system_score",  # the score with the multiplicity boost (system_scores); the ranking's key
    "source",
)

#: A signal the model scores this high is a planet candidate, for :func:`system_scores`.
CANDIDATE_SCORE = 0.5
#: How much likelier a planet a candidate is when its star shows another (Lissauer et al. 2012,
#: 2014, "Almost all of Kepler's multiple planet candidates are planets"): the false positives
#: (binaries, mostly) fall on stars at random, while planets come in systems. The odds
#: ``score / (1 - score)`` of a candidate on a star with two or more are multiplied by this.
MULTI_BOOST = 25.0

#: Per star: scanned or skipped, and why.
STAR_COLUMNS = ("star_id", "mission", "status", "signals", "cadences", "reason", "source")

#: Fewest cadences with finite time and flux to search.
MIN_CADENCES = 100


@dataclass
class StarScan:
    """The outcome for one star: its summary, its candidate rows and each row's model input."""

    star: dict
    rows: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    curves: object = None  # exohunt.report.pages.StarCurves, for a report


@dataclass
class ScanResult:
    """Candidates ranked best first, the per-star table, and the seconds it took."""

    candidates: pd.DataFrame
    stars: pd.DataFrame
    seconds: float

    @property
    def scanned(self) -> int:
        return int((self.stars["status"] == "scanned").sum())

    @property
    def skipped(self) -> pd.DataFrame:
        return self.stars[self.stars["status"] == "skipped"]


# --------------------------------------------------------------------------- one star
def check_curve(star: StarCurve, settings: SearchSettings) -> str | None:
    """Why ``star`` cannot be searched, in one line (with the fix), or None."""
    if star.problem:
        return star.problem
    flux = np.asarray(star.flux, dtype=float)
    finite = np.isfinite(flux)
    if not finite.any():
        return "no finite flux values"
    if star.time is None:
        t = np.flatnonzero(finite).astype(float)
    else:
        time = np.asarray(star.time, dtype=float)
        if time.shape != flux.shape:
            return f"{time.size} time values but {flux.size} flux values: give one time per flux"
        t = time[finite & np.isfinite(time)]
        steps = np.diff(t)
        if (steps < 0).any():
            return f"time is not sorted ({int((steps < 0).sum())} steps back): sort the cadences"
        if (steps == 0).any():
            return (
                f"{int((steps == 0).sum())} duplicate cadences (repeated times): keep one flux "
                "value per time"
            )
    if t.size < MIN_CADENCES:
        return f"only {t.size} cadences with finite time and flux (at least {MIN_CADENCES})"
    if star.time is not None and t[-1] - t[0] < 2 * settings.min_period:
        return (
            f"a {t[-1] - t[0]:.3g}-day light curve is shorter than two minimum periods "
            f"(2 x {settings.min_period:g} d): give a longer one or a smaller --min-period"
        )
    return None


def scan_star(
    star: StarCurve,
    settings: SearchSettings,
    inputs: tuple[str, ...] = (),
    keep_curves: bool = False,
) -> StarScan:
    """Search one star; a star that cannot be searched is skipped with a reason, never raised.

    ``inputs`` names the model inputs to build for each signal: ``"flux"`` (the light curve with
    the other signals' transits removed) and/or ``"views"`` (AstroNet global and local views).
    ``keep_curves`` keeps what a report draws: the light curve, detrended, and the periodogram."""
    info = {"star_id": star.star_id, "mission": star.mission, "source": star.source,
            "cadences": 0 if star.flux is None else int(np.size(star.flux))}  # fmt: skip
    problem = check_curve(star, settings)
    if problem is None:
        try:
            return _search(star, settings, inputs, info, keep_curves)
        except ValueError as exc:  # a light curve the search cannot use
            problem = str(exc).splitlines()[0]
        except Exception as exc:  # a fault on one star must not cost the others their results
            log.debug("searching star %s failed", star.star_id, exc_info=True)
            problem = (
                f"the search failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "please report it with this star's light curve"
            )
    return StarScan({**info, "status": "skipped", "signals": 0, "reason": problem})


def _search(star: StarCurve, settings: SearchSettings, inputs, info, keep_curves) -> StarScan:
    from exohunt.lightcurve.clean import KEPLER_LONG_CADENCE_DAYS

    flux = np.asarray(star.flux, dtype=float)
    if star.time is None:  # evenly spaced cadences (Kaggle): Kepler long cadence assumed
        time = np.arange(flux.size) * KEPLER_LONG_CADENCE_DAYS
    else:
        time = np.asarray(star.time, dtype=float)
    keep = np.isfinite(time) & np.isfinite(flux)
    time, flux = time[keep], flux[keep]
    with np.errstate(all="ignore"):
        result = search_star(time, flux, settings)
    scan = StarScan({**info, "status": "scanned", "signals": len(result.signals), "reason": ""})
    if keep_curves and result.signals:
        from exohunt.report import curves_of

        scan.curves = curves_of(star, result, time, flux)
    periods = {s.number: s.period for s in result.signals if np.isfinite(s.period)}
    for signal in result.signals:
        ratios = ";".join(
            f"{n}:{signal.period / p:.4f}" for n, p in periods.items() if n != signal.number
        )
        scan.rows.append(_row(star, signal, ratios if np.isfinite(signal.period) else ""))
        if inputs:
            scan.inputs.append(_model_input(time, flux, result, signal, inputs))
    return scan


def _row(star: StarCurve, s: Signal, ratios: str) -> dict:
    ppm = 1e6
    return {
        "star_id": star.star_id,
        "signal": s.number,
        "mission": star.mission,
        "period": s.period,
        "period_lower_limit": s.period_lower_limit,
        "transit_time": s.epoch,
        "time_system": star.time_system,
        "duration_hours": s.duration * 24.0,
        "depth_ppm": s.depth * ppm,
        "snr": s.snr,
        "SDE": s.sde,
        "depth_snr": s.bls_depth_snr,
        "distinct_transit_count": s.n_transits,
        "depth_mean_odd_ppm": s.odd_depth * ppm,
        "depth_mean_even_ppm": s.even_depth * ppm,
        "odd_even_mismatch": s.odd_even_sigma,
        "secondary_depth_ppm": s.secondary_depth * ppm,
        "secondary_snr": s.secondary_snr,
        "secondary_phase": s.secondary_phase,
        "secondary_albedo": s.secondary_albedo,
        "transit_shape": s.shape,
        "period_ratios": ratios,
        "single_transit": bool(s.single),
        "doubled": bool(s.doubled),
        "score": np.nan,
        "star_candidates": np.nan,
        "system_score": np.nan,
        "source": star.source,
    }


def _others(time, result: SearchResult, signal: Signal) -> np.ndarray:
    return others_mask(time, result.signals, signal)


def _model_input(time, flux, result: SearchResult, signal: Signal, inputs) -> dict:
    """What a model reads for one signal: catalogue-style values (also under the AstroNet
    Triage metadata's names), and the light curve and/or the views with the star's other
    signals' transits removed."""
    values, triage = signal.model_inputs(), triage_metadata(signal)
    if not result.relative:  # z-scores: a depth in sigma is no depth in ppm
        values["transit_depth"] = triage["Transit_Depth"] = np.nan
    row = {**values, **triage}
    if "flux" in inputs:
        keep = ~_others(time, result, signal)
        row["time"], row["flux"] = time[keep], flux[keep]
    if "views" in inputs:
        row |= signal_views(result.time, result.flux, result.signals, signal)
    return row


class StarSearch:
    """:func:`scan_star` over a chunk of stars on ``n_jobs`` local processes: the object that
    :func:`exohunt.services.distributed.transform_chunks` applies to each chunk, here or on
    Dask workers."""

    def __init__(
        self,
        settings: SearchSettings,
        inputs: tuple[str, ...] = (),
        n_jobs: int = -1,
        keep_curves: bool = False,
    ):
        self.settings = settings
        self.inputs = inputs
        self.n_jobs = n_jobs
        self.keep_curves = keep_curves

    def transform(self, stars: list[StarCurve]) -> list[StarScan]:
        from exohunt.cores import n_workers

        workers = n_workers(self.n_jobs, len(stars))
        if workers == 1:
            return [scan_star(s, self.settings, self.inputs, self.keep_curves) for s in stars]
        from joblib import delayed

        from exohunt.cores import process_pool

        return process_pool(workers)(
            delayed(scan_star)(s, self.settings, self.inputs, self.keep_curves) for s in stars
        )


# --------------------------------------------------------------------------- scoring
class Scorer:
    """Scores signals with a loaded model (:class:`exohunt.predict.LoadedModel`)."""

    def __init__(self, loaded):
        from exohunt.serving import required_columns

        self.loaded = loaded
        self.columns = required_columns(loaded.model)
        if "global_view" in self.columns or "local_view" in self.columns:
            self.inputs: tuple[str, ...] = ("views",)
        elif "flux" in self.columns:
            self.inputs = ("flux",)
        else:
            shown = ", ".join(self.columns[:5]) + (", ..." if len(self.columns) > 5 else "")
            raise ModelError(
                f"model {loaded.source} reads only catalogue columns ({shown}): it cannot score "
                "light-curve signals (train it on light curves or AstroNet views, or scan "
                "without --model)"
            )

    def score(self, inputs: list[dict]) -> np.ndarray:
        """P(planet) of each signal's model input."""
        if not inputs:
            return np.empty(0)
        with np.errstate(all="ignore"):
            return np.asarray(self.loaded.model.predict_proba(self._frame(inputs)))[:, 1]

    def explain(self, inputs: list[dict]):
        """P(planet) of each signal's model input, and why: an
        :class:`~exohunt.report.explain.Explanation` (None without inputs)."""
        if not inputs:
            return np.empty(0), None
        from exohunt.report.explain import explain

        with np.errstate(all="ignore"):
            explanation = explain(self.loaded.model, self._frame(inputs))
        return explanation.proba, explanation

    def _frame(self, inputs: list[dict]) -> pd.DataFrame:
        frame = pd.DataFrame(inputs)
        for column in self.columns:
            if column not in frame.columns:
                frame[column] = np.nan  # the model's own imputer fills it, as in training
        for column in ("flux", "time", "global_view", "local_view"):
            if column in frame.columns:
                frame[column] = pd.Series(list(frame[column]), index=frame.index, dtype=object)
        return frame


# --------------------------------------------------------------------------- the scan
def scan(
    data,
    model=None,
    settings: SearchSettings | None = None,
    *,
    format: str = "auto",
    chunk_size: int = 100,
    n_jobs: int = -1,
    scheduler: str | None = None,
    done: Iterable[str] = (),
    on_chunk: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
    progress: Callable[[int, int | None, int], None] | None = None,
    report=None,
) -> ScanResult:
    """Search every star of ``data`` for transit signals and score each with ``model``.

    Parameters
    ----------
    data
        A light-curve path (FITS file or folder, JSON Lines, flux CSV, Kaggle CSV, Parquet with a
        ``flux`` column), a lightkurve ``LightCurve`` or ``LightCurveCollection`` (or a list of
        them), or a :class:`~exohunt.dataset.Dataset` with light curves.
    model
        A loaded model (:func:`exohunt.predict.load_model`), a train output folder or an MLflow
        model URI (``models:/name@champion``); None leaves ``score`` empty.
    settings
        The search: :class:`~exohunt.lightcurve.search.SearchSettings`.
    chunk_size, n_jobs, scheduler
        Stars per chunk; local processes (-1: every core this process may use); or a Dask
        scheduler address (``tcp://HOST:PORT``) to search the chunks on instead.
    done
        Star ids to leave out (scanned before: ``--resume``).
    on_chunk
        Called with each chunk's candidate rows and star rows as the chunk finishes.
    progress
        Called as ``progress(stars_done, stars_total or None, signals_found)``.
    report
        A :class:`exohunt.report.ScanReport` to hand each chunk to (its pages and reasons).

    Returns the candidates ranked best first and the per-star table. Raises DataError when
    ``data`` holds no light curves, ModelError for a model that cannot score signals.
    """
    from exohunt.services.distributed import transform_chunks

    settings = (settings or SearchSettings()).validate()
    if chunk_size < 1:
        raise ConfigError(f"chunk size {chunk_size} must be at least 1")
    scorer = _scorer(model)
    inputs = scorer.inputs if scorer else ()
    search = StarSearch(settings, inputs, 1 if scheduler else n_jobs, report is not None)
    done = {str(d) for d in done}
    total = count_stars(data)
    total = None if total is None else max(total - len(done), 0)
    started = clock.perf_counter()
    candidates, stars = [], []
    n_stars = n_signals = 0
    todo = (s for s in iter_stars(data, format) if s.star_id not in done)
    for scans in transform_chunks(search, _chunks(todo, chunk_size), scheduler):
        rows = [row for s in scans for row in s.rows]
        model_inputs = [i for s in scans for i in s.inputs]
        explanation = None
        if scorer is not None:
            if report is not None:
                scores, explanation = scorer.explain(model_inputs)
            else:
                scores = scorer.score(model_inputs)
            for row, value in zip(rows, scores, strict=True):
                row["score"] = float(value)
            system_scores(rows)
        if report is not None:
            report.add(scans, rows, explanation, model_inputs)
        chunk = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
        chunk_stars = pd.DataFrame([s.star for s in scans], columns=list(STAR_COLUMNS))
        if on_chunk is not None:
            on_chunk(chunk, chunk_stars)
        candidates.append(chunk)
        stars.append(chunk_stars)
        n_stars += len(scans)
        n_signals += len(rows)
        if progress is not None:
            progress(n_stars, total, n_signals)
    return ScanResult(
        rank(_concat(candidates, CANDIDATE_COLUMNS)),
        _concat(stars, STAR_COLUMNS),
        clock.perf_counter() - started,
    )


def system_scores(rows: list[dict]) -> list[dict]:
    """Each row's ``star_candidates`` and ``system_score``, in place (rows of whole stars).

    A star's candidates are its signals the model scores :data:`CANDIDATE_SCORE` or more. When
    two or more of them are periodic at unrelated periods (not the same within 1%, nor a whole
    multiple within 0.2%: a binary's secondary eclipse or a signal's alias is no second planet),
    the star shows a system, and each of its candidates, single transits too, gets the
    multiplicity boost: its odds times :data:`MULTI_BOOST`. Every other row keeps its score."""
    by_star: dict = {}
    for row in rows:
        by_star.setdefault(row["star_id"], []).append(row)
    for star_rows in by_star.values():
        candidates = [r for r in star_rows if r["score"] >= CANDIDATE_SCORE]  # False for NaN
        boosted = {id(r) for r in candidates}
        periods: list[float] = []
        for r in sorted(candidates, key=lambda r: -r["score"]):
            if not r["single_transit"] and not any(_related(r["period"], p) for p in periods):
                periods.append(r["period"])
        for r in star_rows:
            r["star_candidates"] = len(periods) if np.isfinite(r["score"]) else np.nan
            r["system_score"] = r["score"]
            if len(periods) >= 2 and id(r) in boosted:
                odds = MULTI_BOOST * r["score"] / max(1.0 - r["score"], 1e-12)
                r["system_score"] = odds / (1.0 + odds)
    return rows


def _related(a: float, b: float) -> bool:
    """Whether periods ``a`` and ``b`` (days) are one signal's: equal within 1%, or a whole
    multiple within 0.2%."""
    ratio = max(a, b) / min(a, b)
    return abs(ratio - 1) < 0.01 or (round(ratio) >= 2 and abs(ratio / round(ratio) - 1) < 0.002)


def rank(candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates best first: by system score, then score, then SNR (missing values last)."""
    return candidates.sort_values(
        ["system_score", "score", "snr"], ascending=False, na_position="last", kind="stable"
    ).reset_index(drop=True)


def _concat(frames: list[pd.DataFrame], columns) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _empty(columns)


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _scorer(model) -> Scorer | None:
    if model is None:
        return None
    if isinstance(model, (str, Path)):
        from exohunt.predict import load_model

        model = load_model(model)
    return Scorer(model)


def _chunks(stars: Iterator[StarCurve], size: int) -> Iterator[list[StarCurve]]:
    chunk: list[StarCurve] = []
    for star in stars:
        chunk.append(star)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --------------------------------------------------------------------------- output
class ScanWriter:
    """Writes a scan's candidates and per-star table chunk by chunk, so that ``--resume`` can go
    on from an interrupted scan.

    While the scan runs, rows are appended to ``<output>.partial`` (CSV) and the stars done to
    ``<stem>_stars.csv.partial``; a chunk's candidates are written before its stars, so a star
    in the star table has all its candidates. :meth:`close` ranks the candidates and moves both
    files into place (CSV, or Parquet when ``output`` ends in ``.parquet``): an earlier complete
    output is replaced only then.
    """

    def __init__(self, output: str | Path, resume: bool = False):
        self.output = Path(output)
        if self.output.suffix.lower() not in (".csv", ".parquet"):
            raise ConfigError(
                f"--output {self.output} must end in .csv or .parquet (the candidate table)"
            )
        self.stars_output = self.output.with_name(f"{self.output.stem}_stars.csv")
        self.partial = self.output.with_name(self.output.name + ".partial")
        self.stars_partial = self.stars_output.with_name(self.stars_output.name + ".partial")
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.done: set[str] = set()
        if resume:
            self._resume()
        else:
            self._start(_empty(CANDIDATE_COLUMNS), _empty(STAR_COLUMNS))

    def _start(self, candidates: pd.DataFrame, stars: pd.DataFrame) -> None:
        candidates.to_csv(self.partial, index=False)
        stars.to_csv(self.stars_partial, index=False)

    def _resume(self) -> None:
        """Pick up the partial files, or else the complete output, of an earlier scan."""
        if self.stars_partial.is_file() and self.partial.is_file():
            stars, candidates = _read_table(self.stars_partial), _read_table(self.partial)
        elif self.stars_output.is_file() and self.output.is_file():
            stars, candidates = _read_table(self.stars_output), _read_table(self.output)
        else:
            stars, candidates = _empty(STAR_COLUMNS), _empty(CANDIDATE_COLUMNS)
        self.done = set(stars["star_id"].astype(str))
        # rows of a chunk whose stars were not recorded are written again
        candidates = candidates[candidates["star_id"].astype(str).isin(self.done)]
        self._start(candidates.reindex(columns=list(CANDIDATE_COLUMNS)), stars)

    def write(self, candidates: pd.DataFrame, stars: pd.DataFrame) -> None:
        """Append one chunk: its candidates, then its stars."""
        for table, path in ((candidates, self.partial), (stars, self.stars_partial)):
            with open(path, "a", newline="") as handle:
                table.to_csv(handle, header=False, index=False)
                handle.flush()
                os.fsync(handle.fileno())

    def close(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rank the candidates, move both tables into place, return them."""
        candidates = rank(_read_table(self.partial))
        stars = _read_table(self.stars_partial)
        temporary = self.output.with_name(self.output.name + ".tmp")
        if self.output.suffix.lower() == ".parquet":
            candidates.to_parquet(temporary, index=False)
        else:
            candidates.to_csv(temporary, index=False)
        os.replace(temporary, self.output)
        os.replace(self.stars_partial, self.stars_output)
        self.partial.unlink()
        return candidates, stars


def _read_table(path: Path) -> pd.DataFrame:
    from exohunt.errors import DataError

    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"star_id": str, "period_ratios": str, "source": str})
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read {path} to resume from: {exc} (delete it to scan from the start)"
        ) from exc
