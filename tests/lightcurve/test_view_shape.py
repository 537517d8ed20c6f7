"""View shape measures, on made-up views with known answers and on the real TESS Triage views."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from exohunt.features import ViewShapeFeatures, make_features
from exohunt.lightcurve.view_shape import FEATURES, view_shape

G, L = 201, 61


def _column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURES.index(name)]


def _box(n: int, half_width: int, depth: float = 1.0) -> np.ndarray:
    view = np.zeros(n)
    c = n // 2
    view[c - half_width : c + half_width + 1] = -depth
    return view


def _vee(n: int, half_width: int) -> np.ndarray:
    offset = np.abs(np.arange(n) - n // 2)
    return -np.clip(1 - offset / half_width, 0, None)


@pytest.fixture(scope="module")
def triage(shared_data):
    arrays = np.load(shared_data / "tess_astronet_triage_views.npz")
    return arrays["global_view"], arrays["local_view"], arrays["Disposition"]


def test_a_flat_bottomed_transit_is_flat_and_a_vee_is_not():
    g = np.vstack([_box(G, 2), _vee(G, 3)])
    v = np.vstack([_box(L, 6), _vee(L, 7)])
    f = view_shape(g, v)
    flatness = _column(f, "view_flatness_local")
    assert flatness[0] == pytest.approx(1.0)
    assert flatness[1] < 0.4
    assert _column(f, "view_width_50_local").tolist() == [13.0, 7.0]
    assert _column(f, "view_depth_local") == pytest.approx([1.0, 1.0])


def test_a_secondary_eclipse_at_phase_half_is_measured():
    rng = np.random.default_rng(0)
    g = np.vstack([_box(G, 2), _box(G, 2)]) + rng.normal(0, 0.01, (2, G))
    g[1, :3] -= 0.3  # phase 0.5 is both ends of the global view
    g[1, -3:] -= 0.3
    v = np.vstack([_box(L, 6), _box(L, 6)])
    f = view_shape(g, v)
    secondary = _column(f, "view_secondary_depth")
    assert abs(secondary[0]) < 0.02
    assert secondary[1] == pytest.approx(0.3, abs=0.03)
    assert _column(f, "view_secondary_snr")[1] > 20
    assert _column(f, "view_other_dip_phase")[1] == pytest.approx(0.5, abs=0.02)


def test_an_asymmetric_baseline_shows():
    v = np.vstack([_box(L, 6), _box(L, 6)])
    v[1, :20] += np.linspace(0.5, 0, 20)  # a ramp before the transit only
    g = np.vstack([_box(G, 2), _box(G, 2)])
    f = view_shape(g, v)
    asymmetry = _column(f, "view_asymmetry_local")
    assert asymmetry[0] == pytest.approx(0.0)
    assert asymmetry[1] > 0.05
    assert _column(f, "view_baseline_offset_local")[1] > 0.05


def test_each_row_is_measured_alone():
    """A row's features never depend on the other rows it is transformed with."""
    rng = np.random.default_rng(1)
    g = np.vstack([_box(G, k) for k in (1, 3, 8)]) + rng.normal(0, 0.05, (3, G))
    v = np.vstack([_box(L, k) for k in (3, 6, 12)]) + rng.normal(0, 0.05, (3, L))
    together = view_shape(g, v)
    alone = np.vstack([view_shape(g[i : i + 1], v[i : i + 1]) for i in range(3)])
    np.testing.assert_array_equal(together, alone)


def test_empty_or_flat_views_give_nan_rows_without_warnings():
    g = np.vstack([np.full(G, np.nan), np.zeros(G), _box(G, 2)])
    v = np.vstack([np.full(L, np.nan), np.zeros(L), _box(L, 6)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = view_shape(g, v)
    assert np.isnan(f[:2]).all()
    assert np.isfinite(f[2]).sum() >= len(FEATURES) - 4


def test_on_real_views_binaries_and_junk_look_as_a_vetter_expects(triage):
    g, v, disposition = triage
    f = view_shape(g, v)
    assert f.shape == (len(g), len(FEATURES))
    assert np.isfinite(f).mean() > 0.9

    def median(name, label):
        return np.nanmedian(_column(f, name)[disposition == label])

    # eclipsing binaries: longer eclipses for their period, and secondaries
    assert median("view_width_50_global", "EB") > median("view_width_50_global", "PC")
    assert median("view_secondary_snr", "EB") > 2 * median("view_secondary_snr", "PC")
    # junk: a noisy, lumpy baseline, and lower significance
    assert median("view_baseline_scatter_local", "J") > 3 * median(
        "view_baseline_scatter_local", "PC"
    )
    assert median("view_snr_local", "J") < median("view_snr_local", "PC")


def test_the_training_features_put_the_shapes_before_the_views(triage):
    g, v, _ = triage
    frame = pd.DataFrame(
        {
            "orbital_period": np.linspace(1, 20, 40),
            "global_view": list(g[:40]),
            "local_view": list(v[:40]),
        }
    )
    union = make_features(frame).fit(frame)
    names = list(union.get_feature_names_out())
    X = union.transform(frame)
    assert X.shape == (40, len(names))
    assert names[-(G + L)] == "global_000" and names[-1] == "local_60"  # the CNN reads these last
    assert set(FEATURES) <= set(names[: -(G + L)])
    transformer = ViewShapeFeatures().fit(frame)
    assert list(transformer.get_feature_names_out()) == list(FEATURES)
