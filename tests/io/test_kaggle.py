"""The Kaggle wide format (LABEL + FLUX.1..FLUX.N), on fixtures built from real light curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import DataError
from exohunt.io import read_dataset


def _wide(records, with_label=True) -> pd.DataFrame:
    """The JSONL curves as Kaggle rows: NaN gaps filled with the median, as Kaggle has none."""
    flux = np.array([r["flux"] for r in records], dtype=float)
    flux = np.where(np.isnan(flux), np.nanmedian(flux, axis=1, keepdims=True), flux)
    frame = pd.DataFrame(flux, columns=[f"FLUX.{i}" for i in range(1, flux.shape[1] + 1)])
    if with_label:
        frame.insert(0, "LABEL", [2 if r["label"] == "conf" else 1 for r in records])
    return frame


@pytest.fixture
def kaggle_csv(q17_records, tmp_path):
    path = tmp_path / "exoTrain.csv.gz"
    _wide(q17_records).to_csv(path, index=False)
    return path


def test_kaggle_rows(kaggle_csv, q17_records):
    data = read_dataset(kaggle_csv)
    assert data.format == "kaggle"
    assert data.counts() == {"total": 12, "planet": 4, "not_planet": 8, "unresolved": 0}
    assert list(data.table.columns) == ["LABEL"]
    assert data.time is None
    assert data.flux[0].shape == (1556,) and data.flux[0].dtype == np.float64
    expected = np.array(q17_records[5]["flux"], dtype=float)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(data.flux[5][finite], expected[finite])
    assert data.groups.tolist()[:2] == ["row-0", "row-1"]


def test_kaggle_flux_columns_in_numeric_order(tmp_path):
    path = tmp_path / "shuffled.csv"
    pd.DataFrame({"LABEL": [2], "FLUX.10": [10.0], "FLUX.2": [2.0], "FLUX.1": [1.0]}).to_csv(
        path, index=False
    )
    assert read_dataset(path).flux[0].tolist() == [1.0, 2.0, 10.0]


def test_kaggle_without_label(q17_records, tmp_path):
    path = tmp_path / "exoTest.csv"
    _wide(q17_records[:2], with_label=False).to_csv(path, index=False)
    data = read_dataset(path)
    assert data.format == "kaggle" and not data.has_labels
    assert data.table.shape == (2, 0)


def test_kaggle_bad_value_names_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"LABEL": [1, 2], "FLUX.1": ["1.0", "n/a?"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'FLUX.1' cell of data row 2 .*must be a number"):
        read_dataset(path)
