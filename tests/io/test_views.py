"""AstroNet view archives (.npz), from the real TESS triage file and small arrays built here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import DataError
from exohunt.io import read_dataset


@pytest.fixture(scope="module")
def views(shared_data):
    return read_dataset(shared_data / "tess_astronet_triage_views.npz")


def test_views_shapes_and_labels(views):
    assert views.format == "views"
    assert views.views["global_view"].shape == (12726, 201)
    assert views.views["local_view"].shape == (12726, 61)
    assert views.views["global_view"].dtype == np.float32
    assert views.counts() == {"total": 12726, "planet": 379, "not_planet": 12347, "unresolved": 0}
    assert views.id_columns == ("tic_id", "toi_id", "row_id")
    assert len(set(views.groups)) == 11875


def test_views_metadata_matches_the_csv(views, shared_data):
    tces = pd.read_csv(shared_data / "tess_astronet_triage_tces.csv.gz")
    np.testing.assert_array_equal(views.table["tic_id"], tces["tic_id"])
    np.testing.assert_array_equal(views.raw_labels, tces["Disposition"])
    np.testing.assert_allclose(views.table["transit_duration"], tces["Duration"] * 24.0)


def test_triage_labels(shared_data):
    triage = read_dataset(
        shared_data / "tess_astronet_triage_views.npz",
        positive_labels=["PC", "EB"],
        negative_labels=["J"],
    )
    assert triage.counts() == {"total": 12726, "planet": 2081, "not_planet": 10643, "unresolved": 2}


def test_pc_vs_rest(shared_data):
    pc = read_dataset(shared_data / "tess_astronet_triage_views.npz", positive_labels=["PC"])
    assert pc.counts() == {"total": 12726, "planet": 379, "not_planet": 12347, "unresolved": 0}


def test_to_frame_has_view_columns(views):
    frame = views.take([0, 1]).to_frame()
    assert frame["global_view"].iloc[0].shape == (201,)


def test_views_without_metadata(tmp_path):
    path = tmp_path / "views.npz"
    np.savez(path, global_view=np.zeros((3, 201)), local_view=np.ones((3, 61)))
    views = read_dataset(path)
    assert views.format == "views"
    assert not views.has_labels
    assert list(views.groups) == ["row-0", "row-1", "row-2"]
    assert views.views["local_view"].dtype == np.float32


def test_views_with_generic_labels(tmp_path):
    path = tmp_path / "views.npz"
    np.savez(path, global_view=np.zeros((2, 201)), label=np.array([1, 0]), kepid=np.array([5, 6]))
    views = read_dataset(path)
    assert views.labels.tolist() == [1.0, 0.0]
    assert views.groups.tolist() == ["5", "6"]


def test_npz_without_views(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(DataError, match=r"without global_view/local_view arrays; arrays are: x"):
        read_dataset(path)


def test_views_of_different_lengths(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, global_view=np.zeros((3, 201)), local_view=np.zeros((2, 61)))
    with pytest.raises(DataError, match="different row counts"):
        read_dataset(path)
