"""Generic CSVs: a ``flux`` list per row, or catalogue columns with a label column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import DataError
from exohunt.io import read_dataset
from exohunt.io.flux_csv import parse_cell


def _kepid(name: str) -> int:
    return int(name[4:13])


@pytest.fixture
def flux_list_csv(q17_records, tmp_path):
    """The JSONL light curves as a CSV with JSON-style ``flux``/``time`` list cells."""
    frame = pd.DataFrame(
        {
            "kepid": [_kepid(r["name"]) for r in q17_records],
            "koi_period": np.arange(len(q17_records)) + 1.5,
            "label": [r["label"] for r in q17_records],
            "time": [json.dumps(r["time"]) for r in q17_records],
            "flux": [json.dumps(r["flux"]) for r in q17_records],
        }
    )
    path = tmp_path / "curves.csv"
    frame.to_csv(path, index=False)
    return path


def test_flux_lists_round_trip(flux_list_csv, q17_records):
    data = read_dataset(flux_list_csv)
    assert data.format == "flux-csv"
    assert len(data) == 12
    assert data.counts() == {"total": 12, "planet": 4, "not_planet": 8, "unresolved": 0}
    for row, record in enumerate(q17_records):
        time, flux = (np.array(record[k], dtype=float) for k in ("time", "flux"))
        keep = np.isfinite(time) & np.isfinite(flux)  # with a time column, NaN cadences go
        np.testing.assert_array_equal(data.flux[row], flux[keep])
        np.testing.assert_array_equal(data.time[row], time[keep])
    assert data.groups[4] == "757450"
    assert data.id_columns == ("kepid",)
    assert "orbital_period" in data.table.columns
    assert "flux" not in data.table.columns and "time" not in data.table.columns


@pytest.mark.parametrize(
    "cell",
    ["[1.0, 0.99, NaN, 1e-3]", "1.0 0.99 NaN 1e-3", "1.0;0.99;nan;0.001", "1.0,0.99,NaN,1e-3"],
)
def test_cell_forms(cell):
    np.testing.assert_array_equal(parse_cell(cell), [1.0, 0.99, np.nan, 0.001])


def test_parse_cell_matches_json(q17_records):
    """The fast text parser agrees with json.loads on real flux lists (the reference)."""
    for record in q17_records[:3]:
        cell = json.dumps(record["flux"])
        np.testing.assert_array_equal(parse_cell(cell), np.array(json.loads(cell), dtype=float))


def test_bad_flux_cell_names_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"label": [1, 0], "flux": ["[1.0, 2.0]", "[1.0, oops]"]}).to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"'flux' cell of data row 2 in .*bad\.csv.*expected a list"
    ):
        read_dataset(path)


def test_empty_flux_cell(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text('label,flux\n1,"[1.0, 2.0]"\n0,\n')
    with pytest.raises(DataError, match="data row 2"):
        read_dataset(path)


def test_time_and_flux_lengths_must_agree(tmp_path):
    path = tmp_path / "ragged.csv"
    pd.DataFrame({"time": ["[1, 2, 3]"], "flux": ["[1.0, 0.9]"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"data row 1 .* 3 'time' values but 2 'flux' values"):
        read_dataset(path)


def test_unlabelled_flux_csv(tmp_path):
    path = tmp_path / "predict.csv"
    pd.DataFrame({"star_id": ["a", "b"], "flux": ["1 NaN 3", "4 5"]}).to_csv(path, index=False)
    data = read_dataset(path)
    assert np.isnan(data.flux[0][1])  # without time, NaN keeps its cadence position
    assert not data.has_labels and data.labels is None
    assert data.time is None
    assert data.groups.tolist() == ["a", "b"]
    assert any("rows are unlabelled" in note for note in data.notes)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 0, 1], [1.0, 0.0, 1.0]),
        (["true", "false", "yes"], [1.0, 0.0, 1.0]),
        (["CONFIRMED", "FALSE POSITIVE", "CANDIDATE"], [1.0, 0.0, np.nan]),
        (["conf", "eb", "PC"], [1.0, 0.0, np.nan]),
    ],
)
def test_generic_label_values(tmp_path, values, expected):
    path = tmp_path / "cat.csv"
    pd.DataFrame({"pl_orbper": [1.0, 2.0, 3.0], "label": values}).to_csv(path, index=False)
    data = read_dataset(path)
    assert data.format == "catalogue-csv"
    np.testing.assert_array_equal(data.labels, expected)


def test_catalogue_csv_ids_and_aliases(tmp_path):
    path = tmp_path / "cat.csv"
    frame = pd.DataFrame({"tic_id": [7, 7, 9], "Period": [1.0, 2.0, 3.0], "depth": [100, 200, 50]})
    frame.assign(disp=["CP", "FP", "KP"]).to_csv(path, index=False)
    data = read_dataset(path, label_column="disp")
    assert data.groups.tolist() == ["7", "7", "9"]
    assert data.id_columns == ("tic_id",)
    assert {"orbital_period", "transit_depth"} <= set(data.table.columns)
    assert data.labels.tolist() == [1.0, 0.0, 1.0]


def test_rows_without_ids_are_their_own_star(tmp_path):
    path = tmp_path / "cat.csv"
    pd.DataFrame({"period": [1.0, 2.0], "label": [0, 1]}).to_csv(path, index=False)
    assert read_dataset(path).groups.tolist() == ["row-0", "row-1"]
