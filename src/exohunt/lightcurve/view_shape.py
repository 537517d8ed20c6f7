"""Shape measurements of AstroNet views: what a vetter reads off a folded light curve.

A model can in principle learn these from the raw bins, but with a few hundred planets it learns
them poorly. Each measure is a question an astronomer asks of a transit-like signal:

- Is there a second eclipse, at phase 0.5 or anywhere else in the orbit? (an eclipsing binary)
- Is the transit V-shaped (grazing binary) or flat-bottomed with sharp ingress and egress (a
  planet crossing the whole stellar disc)?
- Is it symmetric, and is the baseline around it flat, or are there bumps and ramps
  (systematics, variability: "junk")?
- How significant is the dip against the scatter of the rest of the view?
- Do the global and local views agree on the depth?

Views follow the AstroNet convention: the transit is centred, the median is 0 and the transit's
minimum is about -1. :func:`view_shape` computes the measures for each row of arrays of views;
rows whose views are missing or flat get NaN (the imputer fills them).
:class:`exohunt.features.ViewShapeFeatures` reads the views from a frame's ``global_view`` and
``local_view`` columns.
"""

from __future__ import annotations

import warnings

import numpy as np

from exohunt.lightcurve.clean import robust_std

FEATURES = (
    "view_depth_local",
    "view_depth_global",
    "view_depth_global_over_local",
    "view_width_25_local",
    "view_width_50_local",
    "view_width_75_local",
    "view_flatness_local",
    "view_asymmetry_local",
    "view_baseline_offset_local",
    "view_baseline_scatter_local",
    "view_snr_local",
    "view_width_50_global",
    "view_baseline_scatter_global",
    "view_snr_global",
    "view_secondary_depth",
    "view_secondary_snr",
    "view_deepest_other_dip",
    "view_deepest_other_dip_snr",
    "view_other_dip_phase",
)


def _width(view: np.ndarray, depth: np.ndarray, level: float, centre: int, reach: int):
    """Bins of the contiguous run around ``centre`` below ``-level * depth``, per row."""
    lo = max(centre - reach, 0)
    hi = min(centre + reach + 1, view.shape[1])
    below = view[:, lo:hi] < -level * depth[:, None]
    c = centre - lo
    # Walk out from the centre: a bin counts while every bin between it and the centre is below.
    right = np.cumprod(below[:, c:], axis=1).sum(axis=1)
    left = np.cumprod(below[:, : c + 1][:, ::-1], axis=1).sum(axis=1)
    return np.where(below[:, c], right + left - 1, 0).astype(float)


def _smooth(view: np.ndarray, width: int = 3) -> np.ndarray:
    """Running mean over ``width`` bins (edges wrap, as phase does)."""
    pad = width // 2
    padded = np.concatenate([view[:, -pad:], view, view[:, :pad]], axis=1)
    total = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
    return (total[:, width:] - total[:, :-width]) / width


def view_shape(global_view: np.ndarray, local_view: np.ndarray) -> np.ndarray:
    """The :data:`FEATURES` of each row of ``global_view`` (N, G) and ``local_view`` (N, L)."""
    g = np.asarray(global_view, dtype=float)
    v = np.asarray(local_view, dtype=float)
    n, n_global = g.shape
    n_local = v.shape[1]
    cg, cl = n_global // 2, n_local // 2
    # Rows of NaN or flat views give NaN (all-NaN slices, 0/0): that is the documented answer.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = max(1, n_local // 20)
        depth_local = -np.nanmin(v[:, cl - core : cl + core + 1], axis=1)
        depth_global = -np.nanmin(g[:, cg - 2 : cg + 3], axis=1)
        depth_local = np.where(depth_local > 0, depth_local, np.nan)
        depth_global = np.where(depth_global > 0, depth_global, np.nan)

        widths = {
            lvl: _width(np.nan_to_num(v), np.nan_to_num(depth_local, nan=np.inf), lvl, cl, cl)
            for lvl in (0.25, 0.5, 0.75)
        }
        flatness = widths[0.75] / np.maximum(widths[0.25], 1)
        mirrored = v[:, : cl + 1] - v[:, cl:][:, ::-1]
        asymmetry = np.nanmean(np.abs(mirrored), axis=1) / depth_local

        # The local baseline: the outer quarter on each side, away from ingress and egress.
        edge = max(2, n_local // 4)
        local_base = np.concatenate([v[:, :edge], v[:, -edge:]], axis=1)
        base_offset = np.nanmean(local_base, axis=1) / depth_local
        scatter_local = robust_std(local_base, axis=1)
        snr_local = depth_local / scatter_local * np.sqrt(np.maximum(widths[0.5], 1))

        width_global = _width(
            np.nan_to_num(g), np.nan_to_num(depth_global, nan=np.inf), 0.5, cg, n_global // 4
        )
        # Out of transit: beyond twice the half-depth width (at least 3 bins) from the centre.
        offset = np.abs(np.arange(n_global) - cg)[None, :]
        outside = offset > np.maximum(2 * width_global, 3)[:, None]
        g_out = np.where(outside, g, np.nan)
        scatter_global = robust_std(g_out, axis=1)
        snr_global = depth_global / scatter_global * np.sqrt(np.maximum(width_global, 1))

        # Secondary eclipse: phase 0.5 is the two ends of the global view. A circular orbit's
        # secondary lasts as long as the primary: average that many bins around phase 0.5.
        from_ends = np.minimum(np.arange(n_global), n_global - 1 - np.arange(n_global))[None, :]
        ends = from_ends < np.maximum(np.ceil(width_global / 2), 1)[:, None]
        secondary = -np.nanmean(np.where(ends, g, np.nan), axis=1)
        secondary_snr = secondary / (scatter_global / np.sqrt(ends.sum(axis=1)))

        smooth_out = np.where(outside, _smooth(np.nan_to_num(g)), np.nan)
        all_nan = np.all(np.isnan(smooth_out), axis=1)
        deepest_at = np.nanargmin(np.where(all_nan[:, None], 0.0, smooth_out), axis=1)
        deepest = -smooth_out[np.arange(n), deepest_at]
        other_dip_snr = deepest / (scatter_global / np.sqrt(3))
        other_phase = np.abs(deepest_at - cg) / n_global  # 0.5: opposite the transit

        measures = {
            "view_depth_local": depth_local,
            "view_depth_global": depth_global,
            "view_depth_global_over_local": depth_global / depth_local,
            "view_width_25_local": widths[0.25],
            "view_width_50_local": widths[0.5],
            "view_width_75_local": widths[0.75],
            "view_flatness_local": flatness,
            "view_asymmetry_local": asymmetry,
            "view_baseline_offset_local": base_offset,
            "view_baseline_scatter_local": scatter_local / depth_local,
            "view_snr_local": snr_local,
            "view_width_50_global": width_global,
            "view_baseline_scatter_global": scatter_global / depth_global,
            "view_snr_global": snr_global,
            "view_secondary_depth": secondary / depth_global,
            "view_secondary_snr": secondary_snr,
            "view_deepest_other_dip": deepest / depth_global,
            "view_deepest_other_dip_snr": other_dip_snr,
            "view_other_dip_phase": other_phase,
        }
        out = np.column_stack([measures[name] for name in FEATURES])
    bad = ~np.isfinite(depth_local) | ~np.isfinite(depth_global)
    out[bad] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out
