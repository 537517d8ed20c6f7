"""One page per candidate: what an astronomer looks at to vet a signal (a Kepler DV summary in
outline), and the reasons behind the model's score. Matplotlib, drawn off screen.

:func:`draw_candidate` draws a signal found by a scan: the light curve raw and detrended with every
signal's transits in its own colour, the periodogram with the chosen peak and its harmonics, the
global and local folds with the binned median and a fitted trapezoid, odd against even transits,
the window around phase 0.5, each transit on its own, each transit's depth, and the score with its
largest contributions. :func:`draw_row` draws a row of a table (a KOI, TOI or K2 row, a light
curve, a pair of AstroNet views): its values against each class's distribution in the training
data, and its contributions.

Conventions: time in the data's own system (BKJD, BTJD), depths in ppm, durations in hours, phase
in hours from mid-transit (the global fold in orbital phase).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: One colour per signal, in the order found (the Kepler DV reports' habit of one colour each).
SIGNAL_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
#: Page size (inches) and resolution: 1,152 x 792 pixels.
PAGE_SIZE, PAGE_DPI = (16.0, 11.0), 72
#: Thumbnail width, pixels.
THUMB_WIDTH = 400
#: Transits drawn one by one, at most.
MAX_STACKED = 10
#: Cadences drawn in a light-curve panel, at most (more are binned).
MAX_POINTS = 60_000

PPM = 1e6


class _Units:
    """Depths as a page shows them: ppm of relative flux, or the flux's own units for flux
    centred on zero (z-scores), where a ppm means nothing. Set for each page."""

    scale, name, spec = PPM, "ppm", ",.0f"

    def set(self, relative: bool) -> None:
        self.scale, self.name, self.spec = (
            (PPM, "ppm", ",.0f") if relative else (1.0, "flux units", ".3g")
        )

    def __call__(self, value) -> str:
        """A depth (in relative flux, or the flux's units) as text with its unit."""
        return f"{_fmt(value * self.scale, self.spec)} {self.name}"


_U = _Units()


@dataclass
class StarCurves:
    """What a scan saw of one star: the light curve, its detrended version, the first search's
    periodogram and every signal found (:class:`~exohunt.lightcurve.search.Signal`)."""

    star_id: str
    mission: str
    time_system: str
    time: np.ndarray  # the light curve as read, divided by its median when relative
    flux: np.ndarray
    detrended_time: np.ndarray
    detrended_flux: np.ndarray
    relative: bool
    signals: list
    periods: np.ndarray | None = None
    power: np.ndarray | None = None
    source: str = ""


@dataclass
class Reasons:
    """Why the model scored a row as it did: the largest contributions, and how they were found."""

    score: float = np.nan
    threshold: float = np.nan
    system_score: float = np.nan  # the score with the multiplicity boost, when the star has one
    star_candidates: float = np.nan  # periodic candidates at unrelated periods on the star
    model: str = ""  # name, version and run, as one line
    top: list[tuple[str, float, float]] = field(default_factory=list)  # (name, value, contribution)
    output: str = ""  # the contributions' units: "probability" or "log-odds"
    method: str = ""
    views: dict[str, np.ndarray] = field(default_factory=dict)  # view name -> its values
    view_maps: dict[str, np.ndarray] = field(default_factory=dict)  # view name -> occlusion drop


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {"font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
         "axes.labelsize": 9.5, "xtick.labelsize": 8.5, "ytick.labelsize": 8.5,
         "axes.spines.top": False, "axes.spines.right": False, "path.simplify": True,
         "agg.path.chunksize": 10_000,
         # a fixed title height: matplotlib otherwise measures every tick label to place it
         "axes.titley": 1.01, "axes.titlepad": 2.0, "axes.formatter.useoffset": False}
    )  # fmt: skip
    return plt


# --------------------------------------------------------------------------- measurements
def fold_hours(time, period, epoch) -> np.ndarray:
    """Hours from the nearest mid-transit (from the one at ``epoch`` for a single transit)."""
    from exohunt.lightcurve.views import fold

    t = np.asarray(time, dtype=float)
    if not np.isfinite(period):
        return (t - epoch) * 24.0
    return fold(t, period, epoch) * 24.0


def binned(x, y, lo, hi, bins):
    """Bin centres and the median of ``y`` in ``bins`` contiguous bins of ``x`` over (lo, hi)
    (:func:`~exohunt.lightcurve.views.bin_median`); NaN where a bin is empty."""
    from exohunt.lightcurve.views import bin_median

    edges = np.linspace(lo, hi, bins + 1)
    return 0.5 * (edges[1:] + edges[:-1]), bin_median(x, y, bins, (lo, hi))


def trapezoid(hours, depth, duration_hours, ingress_fraction):
    """A trapezoidal transit (relative flux below 0): ``depth`` at the bottom, ``duration_hours``
    from first to last contact, ingress a ``ingress_fraction`` of the duration."""
    half = 0.5 * duration_hours
    ingress = max(ingress_fraction * duration_hours, 1e-6)
    x = np.abs(hours)
    model = np.where(x <= half - ingress, -depth, 0.0)
    slope = (x > half - ingress) & (x < half)
    return np.where(slope, -depth * (half - x) / ingress, model)


def fit_trapezoid(hours, flux_ppm, duration_hours) -> tuple[float, float]:
    """``(depth_ppm, ingress_fraction)`` of the trapezoid of this duration that best fits the
    folded flux (least squares: the depth is linear, the ingress on a grid)."""
    near = np.abs(hours) < duration_hours
    x, y = hours[near], flux_ppm[near]
    best = (np.nan, np.nan, np.inf)
    if x.size < 3:
        return best[:2]
    for fraction in (0.02, 0.08, 0.15, 0.25, 0.35, 0.5):
        shape = trapezoid(x, 1.0, duration_hours, fraction)
        norm = float(shape @ shape)
        if norm == 0:
            continue
        depth = float(shape @ y) / norm  # shape is -1 in transit: a dip gives depth > 0
        cost = float(np.sum((y - depth * shape) ** 2))
        if cost < best[2]:
            best = (depth, fraction, cost)
    return best[0], best[1]


def transit_table(time, flux_ppm, signal) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cycle numbers, depth ppm, its error)`` of each transit with data (the search's own
    :func:`~exohunt.lightcurve.search.transit_depths`, around a level of 0)."""
    from exohunt.lightcurve.search import cadence, duration_noise, in_transit, transit_depths

    if not np.isfinite(signal.period):
        inside = np.abs(time - signal.epoch) < 0.5 * signal.duration
        if not inside.any():
            return np.empty(0, int), np.empty(0), np.empty(0)
        return np.array([0]), np.array([-flux_ppm[inside].mean()]), np.array([np.nan])
    outside = ~in_transit(time, signal.period, signal.epoch, 2 * signal.duration)
    sigma = (
        duration_noise(time[outside], flux_ppm[outside], signal.duration)
        if outside.sum() > 10
        else np.nan
    )
    cycles, depths, counts = transit_depths(
        time, flux_ppm, signal.period, signal.epoch, signal.duration, 0.0
    )
    expected = max(1.0, signal.duration / cadence(time))
    errors = sigma * np.sqrt(np.maximum(expected / np.maximum(counts, 1), 1.0))
    return cycles, depths, errors


def _thin(time, flux, limit=MAX_POINTS):
    """At most ``limit`` points: consecutive cadences averaged in groups."""
    if time.size <= limit:
        return time, flux
    k = int(np.ceil(time.size / limit))
    n = time.size // k * k
    return time[:n].reshape(-1, k).mean(1), flux[:n].reshape(-1, k).mean(1)


# --------------------------------------------------------------------------- the candidate page
def draw_candidate(
    curves: StarCurves, number: int, reasons: Reasons, path: Path, thumb: Path | None = None
) -> Path:
    """Draw the page of signal ``number`` of ``curves`` to ``path`` (PNG) and return it; with
    ``thumb``, a :data:`THUMB_WIDTH`-pixel copy there too."""
    signal = next(s for s in curves.signals if s.number == number)
    colour = SIGNAL_COLOURS[(number - 1) % len(SIGNAL_COLOURS)]
    _U.set(curves.relative)
    t, y = curves.detrended_time, curves.detrended_flux
    # the other signals' transits removed, as the model saw this one
    keep = _without_others(t, curves.signals, signal)
    tk = t[keep]
    yk_ppm = _ppm(y[keep], curves.relative)

    fig, ax = _candidate_figure(bool(reasons.views))
    _header(fig, curves, signal, reasons, colour)
    _light_curve(ax["raw"], curves, raw=True)
    _light_curve(ax["detrended"], curves, raw=False)
    _summary(ax["summary"], curves, signal, reasons)
    _contributions(ax["why"], reasons)
    _periodogram(ax["periodogram"], curves, signal, colour)
    _global_fold(ax["global"], tk, yk_ppm, signal, colour)
    _local_fold(ax["local"], tk, yk_ppm, signal, colour)
    _odd_even(ax["odd_even"], tk, yk_ppm, signal, colour)
    _secondary(ax["secondary"], tk, yk_ppm, signal, colour)
    _stacked(ax["stacked"], tk, yk_ppm, signal, colour)
    _depths(ax["depths"], tk, yk_ppm, signal, colour)
    if reasons.views:
        _draw_views(ax["views"], reasons)
    else:
        _vetting(ax["vetting"], signal)
    return _save(fig, path, thumb, keep=True)


#: A candidate page's figure and axes, made once per process and cleared for each page: making
#: a dozen axes and their ticks afresh costs as much as drawing them.
_FIGURES: dict[bool, tuple] = {}


def _candidate_figure(views: bool):
    if views in _FIGURES:
        fig, axes = _FIGURES[views]
        _clear(fig)
        return fig, axes
    plt = _pyplot()
    fig = plt.figure(figsize=PAGE_SIZE, dpi=PAGE_DPI)
    grid = fig.add_gridspec(4, 4, left=0.065, right=0.985, top=0.86, bottom=0.055, hspace=0.5,
                            wspace=0.28, width_ratios=(1, 1, 1, 1.05))  # fmt: skip
    cells = {"raw": grid[0, :3], "detrended": grid[1, :3], "summary": grid[0, 3],
             "why": grid[1, 3], "periodogram": grid[2, 0], "global": grid[2, 1],
             "local": grid[2, 2], "odd_even": grid[2, 3], "secondary": grid[3, 0],
             "stacked": grid[3, 1], "depths": grid[3, 2]}  # fmt: skip
    axes = {name: fig.add_subplot(cell) for name, cell in cells.items()}
    if views:
        axes["views"] = _views_axes(fig, grid[3, 3])
    else:
        axes["vetting"] = fig.add_subplot(grid[3, 3])
    _FIGURES[views] = (fig, axes)
    return fig, axes


def _clear(fig) -> None:
    """Remove what the last page drew, keeping the axes and their ticks."""
    from matplotlib.ticker import AutoLocator, ScalarFormatter

    for text in list(fig.texts):
        text.remove()
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
            artist.remove()
        ax.containers.clear()
        if ax.legend_ is not None:
            ax.legend_.remove()
        for loc in ("left", "center", "right"):
            ax.set_title("", loc=loc)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.relim()
        ax.set_autoscale_on(True)
        ax.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
        for axis in (ax.xaxis, ax.yaxis):  # ticks set by hand (set_yticks) go back to automatic
            if axis.get_scale() == "linear":
                axis.set_major_locator(AutoLocator())
                axis.set_major_formatter(ScalarFormatter())


def _blank(ax, text: str) -> None:
    """A panel with nothing to draw: the reason, and no ticks."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777")
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)


def _ppm(flux, relative: bool) -> np.ndarray:
    """Flux as ppm below (negative) or above the out-of-transit level."""
    return (flux - 1.0) * PPM if relative else np.asarray(flux, dtype=float)


def _without_others(t, signals, signal) -> np.ndarray:
    from exohunt.lightcurve.search import others_mask

    return ~others_mask(t, signals, signal)


def _header(fig, curves: StarCurves, signal, reasons: Reasons, colour) -> None:
    period = "single transit" if signal.single else f"P = {signal.period:.5g} d"
    score = "no model" if not np.isfinite(reasons.score) else f"score {reasons.score:.3f}"
    fig.text(0.05, 0.955, f"{curves.star_id}  ·  signal {signal.number}  ·  {period}",
             fontsize=30, fontweight="bold", color=colour, va="center")  # fmt: skip
    fig.text(0.985, 0.955, score, fontsize=30, fontweight="bold", ha="right", va="center",
             color=_score_colour(reasons.score, reasons.threshold))  # fmt: skip
    detail = (
        f"{curves.mission or 'light curve'}  ·  depth {_U(signal.depth)}  ·  "
        f"duration {signal.duration * 24:.2f} h  ·  SNR {signal.snr:.1f}  ·  "
        f"{signal.n_transits} transit{'s' if signal.n_transits != 1 else ''}"
    )
    detail += system_note(reasons)
    fig.text(0.05, 0.912, detail, fontsize=15, va="center", color="#333")
    if reasons.model:
        fig.text(0.985, 0.908, reasons.model, fontsize=11, ha="right", va="center", color="#555")


def system_note(reasons: Reasons) -> str:
    """The page's note of a score the star's other candidates raised (the multiplicity boost of
    :func:`exohunt.scanning.system_scores`), or nothing."""
    if not reasons.system_score > reasons.score:  # also for NaN: not boosted
        return ""
    return f"  ·  system {reasons.system_score:.3f} ({reasons.star_candidates:.0f} candidates)"


def _score_colour(score, threshold) -> str:
    if not np.isfinite(score):
        return "#555"
    cut = threshold if np.isfinite(threshold) else 0.5
    return "#1a7f37" if score >= cut else "#9a3412"


def _light_curve(ax, curves: StarCurves, raw: bool) -> None:
    if raw:
        t, y = curves.time, curves.flux
        ax.set_title("light curve, as read", loc="left")
    else:
        t, y = curves.detrended_time, curves.detrended_flux
        ax.set_title("detrended (biweight), each signal's transits in its colour", loc="left")
    scale = PPM if curves.relative else 1.0
    level = 1.0 if curves.relative else 0.0
    tt, yy = _thin(t, (y - level) * scale)
    ax.plot(tt, yy, ",", color="#555", rasterized=True)
    if not raw:
        from exohunt.lightcurve.search import in_transit

        for s in curves.signals:
            inside = in_transit(t, s.period, s.epoch, s.duration)
            c = SIGNAL_COLOURS[(s.number - 1) % len(SIGNAL_COLOURS)]
            ax.plot(t[inside], (y[inside] - level) * scale, ".", ms=2.5, color=c, rasterized=True)
    _limits(ax, yy)
    _transit_ticks(ax, curves, t)
    ax.set_xlabel(f"time ({curves.time_system or 'days'})")
    ax.set_ylabel("flux (ppm)" if curves.relative else "flux")


def _transit_ticks(ax, curves: StarCurves, t) -> None:
    """A tick over each transit of each signal, in the signal's colour."""
    if t.size == 0:
        return
    lo, hi = float(t.min()), float(t.max())
    for s in curves.signals:
        c = SIGNAL_COLOURS[(s.number - 1) % len(SIGNAL_COLOURS)]
        if np.isfinite(s.period):
            first = s.epoch + np.ceil((lo - s.epoch) / s.period) * s.period
            times = np.arange(first, hi + 1e-9, s.period)[:2000]
        else:
            times = np.array([s.epoch])
        ax.plot(times, np.full(times.size, 0.97), "v", color=c, ms=5,
                transform=ax.get_xaxis_transform(), clip_on=False)  # fmt: skip


def _limits(ax, values, pad=0.15) -> None:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return
    lo, hi = np.percentile(v, [0.05, 99.5])
    span = hi - lo or 1.0
    ax.set_ylim(lo - pad * span, hi + 2 * pad * span)


def _summary(ax, curves: StarCurves, signal, reasons: Reasons) -> None:
    ax.axis("off")
    fmt = _fmt
    rows = [
        ("period", "–" if signal.single else f"{signal.period:.6g} d"),
        ("mid-transit", f"{signal.epoch:.5f} {curves.time_system}".strip()),
        ("depth", _U(signal.depth)),
        ("duration", f"{fmt(signal.duration * 24, '.2f')} h"),
        ("SNR (red noise)", fmt(signal.snr, ".1f")),
        ("SDE", fmt(signal.sde, ".1f")),
        ("transits", str(signal.n_transits)),
        ("odd-even", f"{fmt(signal.odd_even_sigma, '.1f')} σ"),
        (
            "secondary",
            f"{fmt(signal.secondary_snr, '.1f')} σ at phase {fmt(signal.secondary_phase, '.2f')}"
            + (
                f", albedo {signal.secondary_albedo:.2g}"
                if signal.secondary_albedo > 0  # False for NaN
                else ""
            ),
        ),  # fmt: skip
        ("shape", fmt(signal.shape, ".2f") + "  (1 flat, 1/3 V)"),
    ]
    if signal.single:
        rows[0] = ("period", f"> {fmt(signal.period_lower_limit, '.4g')} d (single)")
    if signal.doubled:
        rows.append(("note", "found at half the period"))
    if reasons.method:
        rows.append(("reasons", reasons.method.split(":")[0][:34]))
    y = 1.0
    for name, value in rows:
        ax.text(0.0, y, name, fontsize=10, color="#555", transform=ax.transAxes, va="top")
        ax.text(0.36, y, value, fontsize=10, transform=ax.transAxes, va="top", wrap=True)
        y -= 0.093


def _fmt(value, spec: str) -> str:
    try:
        return "–" if not np.isfinite(value) else format(value, spec)
    except (TypeError, ValueError):
        return "–"


def _contributions(ax, reasons: Reasons, k: int = 6) -> None:
    top = reasons.top[:k]
    units = {"log-odds": "log-odds", "probability": "P(planet)"}.get(reasons.output, "")
    ax.set_title(f"why: largest contributions ({units or 'none'})", loc="left")
    if not top:
        ax.text(0.5, 0.5, "no model" if not np.isfinite(reasons.score) else "none available",
                ha="center", va="center", transform=ax.transAxes, color="#777")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        return
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
    names = [f"{_label(n)} = {_short(v)}" for n, v, _ in top][::-1]
    values = np.array([c for _, _, c in top][::-1], dtype=float)
    colours = np.where(values >= 0, "#1a7f37", "#9a3412")
    rows = np.arange(values.size) * 1.6  # each bar with its name above it, inside the panel
    ax.barh(rows, values, color=colours, height=0.7)
    span = float(np.max(np.abs(values))) or 1.0
    ax.set_xlim(-1.15 * span, 1.15 * span)
    for y, name in zip(rows, names, strict=True):
        ax.text(-1.12 * span, y + 0.45, name, fontsize=9, va="bottom")
    ax.set_ylim(-0.6, rows[-1] + 1.3)
    ax.set_yticks([])
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_xlabel(f"← not planet   towards planet →  ({units})" if units else "contribution")


def _short(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)[:10]
    if not np.isfinite(v):
        return "–"
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def _periodogram(ax, curves: StarCurves, signal, colour) -> None:
    ax.set_title("periodogram (BLS)", loc="left")
    if curves.periods is None or curves.power is None or np.size(curves.power) == 0:
        _blank(ax, "not searched")
        return
    p, power = np.asarray(curves.periods), np.asarray(curves.power, dtype=float)
    top = np.nanmax(power) if np.isfinite(power).any() else 1.0
    ax.plot(p, power / (top or 1.0), color="#444", lw=0.6, rasterized=True)
    ax.set_xscale("log")
    if np.isfinite(signal.period):
        for k, style in ((1, "-"), (0.5, ":"), (2, ":"), (1 / 3, ":"), (3, ":")):
            if p.min() <= signal.period * k <= p.max():
                ax.axvline(signal.period * k, color=colour, ls=style, lw=1.6 if k == 1 else 1)
        ax.text(0.02, 0.92, f"peak {signal.period:.5g} d; dotted: ×½, ×2, ×⅓, ×3",
                transform=ax.transAxes, fontsize=8.5, color=colour)  # fmt: skip
    ax.set_xlabel("period (d)")
    ax.set_ylabel("BLS power / its peak")


def _global_fold(ax, t, y_ppm, signal, colour) -> None:
    ax.set_title("global fold", loc="left")
    if not np.isfinite(signal.period):
        _blank(ax, "single transit: no fold")
        return
    from exohunt.lightcurve.views import fold

    phase = fold(t, signal.period, signal.epoch) / signal.period
    px, py = _thin(*_sorted(phase, y_ppm))
    ax.plot(px, py, ",", color="#888", rasterized=True)
    centres, medians = binned(phase, y_ppm, -0.5, 0.5, 200)
    ax.plot(centres, medians, color=colour, lw=1.4)
    _limits(ax, medians, pad=0.6)
    ax.axvspan(0.5 - 0.5 * signal.duration / signal.period, 0.5, color="#bbb", alpha=0.3, lw=0)
    ax.set_xlim(-0.5, 0.5)
    ax.set_xlabel("orbital phase")
    ax.set_ylabel(f"flux ({_U.name})")


def _sorted(x, y):
    order = np.argsort(x)
    return x[order], y[order]


def _local_fold(ax, t, y_ppm, signal, colour) -> None:
    hours = fold_hours(t, signal.period, signal.epoch)
    d = signal.duration * 24
    near = np.abs(hours) < 2.5 * d
    ax.set_title("transit, folded", loc="left")
    ax.plot(hours[near], y_ppm[near], ".", ms=1.5, color="#999", rasterized=True)
    centres, medians = binned(hours[near], y_ppm[near], -2.5 * d, 2.5 * d, 50)
    ax.plot(centres, medians, "o", ms=3.5, color=colour, label="binned median")
    depth, ingress = fit_trapezoid(hours[near], y_ppm[near], d)
    if np.isfinite(depth):
        grid = np.linspace(-2.5 * d, 2.5 * d, 400)
        ax.plot(grid, trapezoid(grid, depth, d, ingress), color="k", lw=1.3,
                label=f"trapezoid, {_U(depth / _U.scale)}")  # fmt: skip
    _limits(ax, medians, pad=0.6)
    ax.set_xlim(-2.5 * d, 2.5 * d)
    ax.legend(fontsize=8, loc="lower left", frameon=False)
    ax.set_xlabel("hours from mid-transit")
    ax.set_ylabel(f"flux ({_U.name})")


def _odd_even(ax, t, y_ppm, signal, colour) -> None:
    ax.set_title(f"odd | even: {_fmt(signal.odd_even_sigma, '.1f')} σ apart", loc="left")
    if not np.isfinite(signal.period):
        _blank(ax, "single transit")
        return
    hours = fold_hours(t, signal.period, signal.epoch)
    d = signal.duration * 24
    cycle = np.rint((t - signal.epoch) / signal.period).astype(np.int64)
    width = 2.0 * d
    medians_all = []
    for parity, offset, name, depth in (
        (1, -width, "odd", signal.odd_depth),
        (0, width, "even", signal.even_depth),
    ):
        sel = (cycle % 2 == parity) & (np.abs(hours) < d)
        ax.plot(hours[sel] + offset, y_ppm[sel], ".", ms=1.5, color="#999", rasterized=True)
        centres, medians = binned(hours[sel], y_ppm[sel], -d, d, 20)
        ax.plot(centres + offset, medians, "o", ms=3, color=colour)
        medians_all.append(medians)
        if np.isfinite(depth):
            ax.hlines(-depth * _U.scale, offset - 0.5 * d, offset + 0.5 * d, color="k", lw=1.5)
            ax.text(offset, 0.04, f"{name}\n{_U(depth)}", ha="center",
                    transform=ax.get_xaxis_transform(), fontsize=8.5)  # fmt: skip
    ax.axvline(0, color="#ccc", lw=0.8)
    _limits(ax, np.concatenate(medians_all), pad=0.8)
    ax.set_xlabel("hours from mid-transit (odd left, even right)")


def _secondary(ax, t, y_ppm, signal, colour) -> None:
    ax.set_title("phase 0.5: a secondary eclipse?", loc="left")
    if not np.isfinite(signal.period):
        _blank(ax, "single transit")
        return
    from exohunt.lightcurve.views import fold

    half = 0.5 * signal.period
    hours = fold(t, signal.period, signal.epoch + half) * 24.0
    d = signal.duration * 24
    near = np.abs(hours) < 3 * d
    ax.plot(hours[near], y_ppm[near], ".", ms=1.5, color="#999", rasterized=True)
    centres, medians = binned(hours[near], y_ppm[near], -3 * d, 3 * d, 40)
    ax.plot(centres, medians, "o", ms=3, color=colour)
    ax.axvspan(-0.5 * d, 0.5 * d, color=colour, alpha=0.1, lw=0)
    sec = signal.secondary_phase
    if np.isfinite(sec) and abs(sec - 0.5) * signal.period * 24 < 3 * d:
        ax.axvline((sec - 0.5) * signal.period * 24, color="k", ls=":", lw=1)
    ax.text(0.02, 0.04, f"strongest secondary anywhere: {_fmt(signal.secondary_snr, '.1f')} σ at "
            f"phase {_fmt(sec, '.2f')}", transform=ax.transAxes, fontsize=8.5)  # fmt: skip
    _limits(ax, medians, pad=0.8)
    ax.set_xlabel("hours from phase 0.5")
    ax.set_ylabel(f"flux ({_U.name})")


def _stacked(ax, t, y_ppm, signal, colour) -> None:
    cycles, depths, _ = transit_table(t, y_ppm, signal)
    d = signal.duration * 24
    shown = _chosen(cycles, depths)
    ax.set_title(f"each transit ({len(shown)} of {cycles.size})", loc="left")
    if not shown.size:
        return
    spacing = float(3 * np.nanmedian(np.abs(depths))) if depths.size else 1.0
    spacing = spacing if np.isfinite(spacing) and spacing > 0 else 1.0
    for k, i in enumerate(shown):
        centre = signal.epoch + (cycles[i] * signal.period if np.isfinite(signal.period) else 0)
        hours = (t - centre) * 24
        near = np.abs(hours) < 2.5 * d
        offset = -k * spacing
        ax.plot(hours[near], y_ppm[near] + offset, ".", ms=1.5, color="#888", rasterized=True)
        ax.hlines(offset - depths[i], -0.5 * d, 0.5 * d, color=colour, lw=1.5)
        ax.text(2.5 * d, offset, f"#{cycles[i]}  {_fmt(depths[i], _U.spec)}", fontsize=7.5,
                va="center")  # fmt: skip
    ax.set_ylim(-(len(shown) - 0.3) * spacing - spacing, 1.2 * spacing)
    ax.set_xlim(-2.5 * d, 3.6 * d)
    ax.set_yticks([])
    ax.set_xlabel(f"hours from each mid-transit (label: cycle, depth {_U.name})")


def _chosen(cycles, depths) -> np.ndarray:
    """Indices of the transits to stack: all of few; of many, the deepest and the shallowest
    (where one odd event shows) and evenly spaced others."""
    n = cycles.size
    if n <= MAX_STACKED:
        return np.arange(n)
    order = np.argsort(depths)
    picked = set(order[:3].tolist()) | set(order[-3:].tolist())
    for i in np.linspace(0, n - 1, MAX_STACKED).astype(int):
        if len(picked) >= MAX_STACKED:
            break
        picked.add(int(i))
    return np.array(sorted(picked))


def _depths(ax, t, y_ppm, signal, colour) -> None:
    cycles, depths, errors = transit_table(t, y_ppm, signal)
    ax.set_title("depth of each transit", loc="left")
    if cycles.size == 0:
        return
    ax.errorbar(cycles, depths, yerr=errors, fmt="o", ms=3, color=colour, ecolor="#bbb", lw=0.8)
    mean = signal.depth * _U.scale
    ax.axhline(mean, color="k", lw=1, ls="--")
    ax.axhline(0, color="#bbb", lw=0.8)
    ax.text(0.02, 0.92, f"mean {_U(signal.depth)} · χ²/dof {_fmt(signal.depth_chi2, '.2g')} · "
            f"top event {_fmt(100 * signal.max_event_share, '.0f')}% of SNR²",
            transform=ax.transAxes, fontsize=8.5)  # fmt: skip
    ax.set_xlabel("transit number (cycle)")
    ax.set_ylabel(f"depth ({_U.name})")


def _vetting(ax, signal) -> None:
    ax.set_title("vetting measures", loc="left")
    ax.axis("off")
    rows = [
        ("transits near gaps", f"{_fmt(100 * signal.near_gaps, '.0f')}%"),
        ("asymmetry", _fmt(signal.asymmetry, ".2f") + "  (0: symmetric)"),
        ("depth χ²/dof", _fmt(signal.depth_chi2, ".2g") + "  (~1: consistent)"),
        ("BLS depth SNR", _fmt(signal.bls_depth_snr, ".1f")),
    ]
    for k, (name, value) in enumerate(rows):
        ax.text(0, 0.85 - 0.18 * k, name, color="#555", transform=ax.transAxes, fontsize=10)
        ax.text(0.5, 0.85 - 0.18 * k, value, transform=ax.transAxes, fontsize=10)


def _views(fig, cell, reasons: Reasons) -> None:
    _draw_views(_views_axes(fig, cell), reasons)


def _views_axes(fig, cell) -> tuple:
    inner = cell.subgridspec(2, 1, hspace=0.7)
    return fig.add_subplot(inner[0]), fig.add_subplot(inner[1])


def _draw_views(axes, reasons: Reasons) -> None:
    for ax, name in zip(axes, ("global_view", "local_view"), strict=True):
        view = reasons.views.get(name)
        title = f"{name.replace('_', ' ')}, as the model saw it"
        if reasons.view_maps.get(name) is not None:
            title = f"{name.replace('_', ' ')} (green: needed; red: against)"
        ax.set_title(title, loc="left", fontsize=9)
        if view is None:
            continue
        _view_with_map(ax, np.asarray(view, dtype=float), reasons.view_maps.get(name))


def _view_with_map(ax, view, drop) -> None:
    """A view, with each bin coloured by how much hiding it lowers the score."""
    x = np.arange(view.size)
    ax.plot(x, view, color="#333", lw=0.9)
    if drop is not None and np.size(drop) == view.size:
        d = np.asarray(drop, dtype=float)
        scale = np.nanmax(np.abs(d)) or 1.0
        ax.scatter(x, view, c=d / scale, cmap="RdYlGn", vmin=-1, vmax=1, s=9, zorder=3)
    ax.set_xticks([])
    ax.tick_params(labelsize=7)


def _save(fig, path: Path, thumb: Path | None = None, keep: bool = False) -> Path:
    """Write ``fig`` to ``path`` (and its thumbnail to ``thumb``); close it unless ``keep``."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import AutoLocator, MaxNLocator

    for ax in fig.axes:  # fewer ticks: most of a page's drawing time is tick labels
        for axis, n in ((ax.xaxis, 6), (ax.yaxis, 4)):
            if type(axis.get_major_locator()) is AutoLocator:  # not set by hand, not log
                axis.set_major_locator(MaxNLocator(n, steps=[1, 2, 2.5, 5, 10]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=PAGE_DPI, pil_kwargs={"compress_level": 3})
    if thumb is not None:  # from the pixels just drawn, not the file
        from PIL import Image

        image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
        _shrink(image).save(thumb)
    if not keep:
        plt.close(fig)
    return path


def _shrink(image, width: int = THUMB_WIDTH):
    from PIL import Image

    return image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)


def thumbnail(page: Path, path: Path, width: int = THUMB_WIDTH) -> Path:
    """A ``width``-pixel-wide copy of ``page`` (PNG)."""
    from PIL import Image

    with Image.open(page) as image:
        _shrink(image.convert("RGB"), width).save(path)
    return path


# --------------------------------------------------------------------------- a table row's page
@dataclass
class RowData:
    """One row of a table scored by a model, and what its page shows besides the reasons."""

    title: str
    subtitle: str = ""
    label: str = ""  # the row's known class, when labelled
    time: np.ndarray | None = None  # its light curve, if it has one
    flux: np.ndarray | None = None
    period: float = np.nan  # days; folds the light curve when given
    epoch: float = np.nan
    duration_hours: float = np.nan
    time_system: str = ""


def draw_row(
    row: RowData, reasons: Reasons, reference: dict | None, path: Path, thumb: Path | None = None
) -> Path:
    """Draw a table row's page: its score and reasons, its light curve or views when it has them,
    and the values of its most influential features against each class's distribution in the
    training data (``reference``: :func:`exohunt.report.reference.class_distributions`)."""
    plt = _pyplot()
    fig = plt.figure(figsize=PAGE_SIZE, dpi=PAGE_DPI)
    grid = fig.add_gridspec(3, 4, left=0.065, right=0.985, top=0.865, bottom=0.06, hspace=0.55,
                            wspace=0.3)  # fmt: skip
    score = "no model" if not np.isfinite(reasons.score) else f"score {reasons.score:.3f}"
    fig.text(0.05, 0.95, row.title, fontsize=30, fontweight="bold", va="center")
    fig.text(0.985, 0.95, score, fontsize=30, fontweight="bold", ha="right", va="center",
             color=_score_colour(reasons.score, reasons.threshold))  # fmt: skip
    line = "  ·  ".join(x for x in (row.subtitle, f"label: {row.label}" if row.label else "") if x)
    fig.text(0.05, 0.905, line, fontsize=15, va="center", color="#333")
    if reasons.model:
        fig.text(0.985, 0.908, reasons.model, fontsize=11, ha="right", va="center", color="#555")
    _contributions(fig.add_subplot(grid[0:2, 0]), reasons, k=10)
    has_curve = row.flux is not None and np.size(row.flux) > 0
    if has_curve:
        _row_curve(fig.add_subplot(grid[0, 1:]), row)
    elif reasons.views:
        _views(fig, grid[0, 1:], reasons)
    features = [(n, v) for n, v, _ in reasons.top if reference and n in reference][:7]
    cells = [grid[1, 1], grid[1, 2], grid[1, 3], grid[2, 0], grid[2, 1], grid[2, 2], grid[2, 3]]
    if not has_curve and not reasons.views:  # the first row is free: more features
        cells = [grid[0, 1], grid[0, 2], grid[0, 3], *cells]
        features = [(n, v) for n, v, _ in reasons.top if reference and n in reference][:10]
    for k, (cell, (name, value)) in enumerate(zip(cells, features, strict=False)):
        _distribution(fig.add_subplot(cell), name, value, reference[name], legend=k == 0)
    if not features:
        ax = fig.add_subplot(grid[2, 1:])
        ax.axis("off")
        ax.text(0, 0.5, "no class distributions saved with this model (retrain it to add them)",
                transform=ax.transAxes, color="#777")  # fmt: skip
    return _save(fig, path, thumb)


def _row_curve(ax, row: RowData) -> None:
    y = np.asarray(row.flux, dtype=float)
    t = np.arange(y.size, dtype=float) if row.time is None else np.asarray(row.time, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    ax.set_title("light curve", loc="left")
    tt, yy = _thin(t, y)
    ax.plot(tt, yy, ",", color="#555", rasterized=True)
    if np.isfinite(row.period) and np.isfinite(row.epoch) and row.time is not None:
        first = row.epoch + np.ceil((t.min() - row.epoch) / row.period) * row.period
        ticks = np.arange(first, t.max() + 1e-9, row.period)[:2000]
        ax.plot(ticks, np.full(ticks.size, 0.97), "v", color=SIGNAL_COLOURS[0], ms=5,
                transform=ax.get_xaxis_transform(), clip_on=False)  # fmt: skip
    _limits(ax, yy)
    ax.set_xlabel(f"time ({row.time_system})" if row.time is not None else "cadence")
    ax.set_ylabel("flux")


def _distribution(ax, name: str, value, ref: dict, legend: bool = True) -> None:
    """The two classes' histograms of one feature in the training data, and this row's value."""
    edges = np.asarray(ref["edges"], dtype=float)
    log = bool(ref.get("log"))
    x = 10**edges if log else edges
    for cls, colour in (("planet", "#1a7f37"), ("not_planet", "#9a3412")):
        counts = np.asarray(ref.get(cls, []), dtype=float)
        if counts.size != edges.size - 1 or counts.sum() == 0:
            continue
        ax.stairs(counts / counts.sum(), x, color=colour, lw=1.5,
                  label=cls.replace("_", " ") + f" ({int(counts.sum()):,})")  # fmt: skip
    if log:
        ax.set_xscale("log")
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = np.nan
    if np.isfinite(v):
        shown = min(max(v, x[0]), x[-1])
        ax.axvline(shown, color="k", lw=2)
        ax.text(shown, 1.0, f" {_short(v)}", transform=ax.get_xaxis_transform(), fontsize=9,
                va="top", fontweight="bold")  # fmt: skip
    ax.set_title(_label(name), loc="left", fontsize=10)
    ax.set_yticks([])
    if legend:
        ax.legend(fontsize=8, frameon=False, loc="upper right", title="training rows",
                  title_fontsize=8)  # fmt: skip


#: Catalogue columns and exohunt features, named as an astronomer reads them.
LABELS = {
    "koi_period": "orbital period (d)", "pl_orbper": "orbital period (d)",
    "period": "orbital period (d)", "koi_duration": "transit duration (h)",
    "pl_trandurh": "transit duration (h)", "koi_depth": "transit depth (ppm)",
    "pl_trandep": "transit depth (ppm)", "koi_prad": "planet radius (R⊕)",
    "pl_rade": "planet radius (R⊕)", "koi_teq": "equilibrium temperature (K)",
    "pl_eqt": "equilibrium temperature (K)", "koi_insol": "insolation (S⊕)",
    "pl_insol": "insolation (S⊕)", "koi_model_snr": "transit SNR",
    "koi_impact": "impact parameter", "koi_steff": "stellar Teff (K)",
    "st_teff": "stellar Teff (K)", "koi_slogg": "stellar log g", "st_logg": "stellar log g",
    "koi_srad": "stellar radius (R☉)", "st_rad": "stellar radius (R☉)",
    "koi_kepmag": "Kepler magnitude", "st_tmag": "TESS magnitude", "ra": "RA (deg)",
    "dec": "Dec (deg)", "koi_tce_plnt_num": "TCE number in system",
    "orbital_period": "orbital period (d)", "transit_duration": "transit duration (h)",
    "transit_depth": "transit depth (ppm)", "planet_radius": "planet radius (R⊕)",
    "stellar_temp": "stellar Teff (K)", "candidates_on_star": "candidates on the star",
    "sibling_period_offset": "period offset from a sibling", "ephemeris_matches":
    "ephemeris matches on other stars", "duration_over_expected": "duration / expected",
    "duration_over_expected_at_impact": "duration / expected at its impact",
    "depth_over_radius_ratio_squared": "depth / (Rp/R*)²", "depth_snr": "depth SNR",
    "log_period_relative_error": "log period error / period",
    "duration_relative_error": "duration error / duration", "snr": "SNR (red noise)",
    "odd_even_mismatch": "odd-even difference (σ)", "secondary_snr": "secondary eclipse (σ)",
    "transit_shape": "transit shape (1 flat, 1/3 V)", "distinct_transit_count": "transits",
}  # fmt: skip


def _label(name: str) -> str:
    """A feature's name in the catalogue's own terms, with its column in brackets."""
    base = str(name).split("__")[-1]
    return LABELS.get(base, base.replace("_", " "))
