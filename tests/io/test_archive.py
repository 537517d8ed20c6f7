"""NASA archive tables and the AstroNet TCE table, read from the real files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import DataError
from exohunt.io import read_dataset


@pytest.fixture(scope="module")
def koi(shared_data):
    return read_dataset(shared_data / "kepler_koi_cumulative.csv.gz")


def test_koi_counts_and_mapping(koi):
    assert koi.format == "koi"
    assert len(koi) == 7639
    assert koi.counts() == {"total": 7639, "planet": 2187, "not_planet": 3847, "unresolved": 1605}
    assert koi.label_column == "koi_disposition"
    assert koi.id_columns == ("kepid", "kepoi_name", "kepler_name")


def test_koi_groups_by_star(koi):
    assert (koi.groups == "11442793").sum() == 7  # Kepler-90
    assert len(set(koi.groups)) == 6573


def test_koi_canonical_columns(koi):
    table = koi.table.set_index("kepoi_name")
    assert "koi_period" not in table.columns
    # K00752.01 (the README's example) is a held-out star; K00755.01 is in the development rows
    assert table.loc["K00755.01", "orbital_period"] == pytest.approx(2.525591777)
    assert table.loc["K00755.01", "kepler_name"] == "Kepler-664 b"
    for column in ("transit_duration", "transit_depth", "planet_radius", "stellar_temp"):
        assert column in table.columns
    assert table["transit_epoch"].between(100, 1600).all()  # BKJD


def test_tce_counts(shared_data):
    tce = read_dataset(shared_data / "kepler_q1_q17_dr24_tce.csv.gz")
    assert tce.format == "tce"
    assert len(tce) == 16220
    labels = tce.raw_labels.value_counts()
    assert labels.to_dict() == {"AFP": 7652, "UNK": 3696, "PC": 2874, "NTP": 1998}
    assert tce.counts() == {"total": 16220, "planet": 2874, "not_planet": 9650, "unresolved": 3696}
    assert tce.id_columns == ("kepid", "tce_plnt_num")
    assert {"orbital_period", "transit_epoch", "transit_duration"} <= set(tce.table.columns)


def test_toi_mapping(shared_data):
    toi = read_dataset(shared_data / "tess_toi.csv.gz")
    assert toi.format == "toi"
    assert len(toi) == 6361
    # CP 597 + KP 472 planet; FP 993 + FA 77 not; PC 3832 + APC 387 + 3 blank unresolved
    assert toi.counts() == {"total": 6361, "planet": 1069, "not_planet": 1070, "unresolved": 4222}
    assert len(set(toi.groups)) == 6094
    assert toi.id_columns == ("toi", "tid")
    assert toi.table["toi"].iloc[0] == "1000.01"
    # pl_tranmid is full BJD, so it is not the (BTJD) transit_epoch
    assert "pl_tranmid" in toi.table.columns and "transit_epoch" not in toi.table.columns
    assert {"orbital_period", "transit_duration", "transit_depth", "planet_radius"} <= set(
        toi.table.columns
    )


def test_k2_keeps_default_rows(shared_data):
    k2 = read_dataset(shared_data / "k2_pandc.csv.gz")
    assert k2.format == "k2"
    assert len(k2) == 1440
    assert (k2.table["default_flag"] == 1).all()
    assert any("dropped 1751 non-default K2 parameter rows" in note for note in k2.notes)
    assert k2.counts() == {"total": 1440, "planet": 459, "not_planet": 195, "unresolved": 786}
    assert k2.groups[0] == "BD+20 594"
    assert "planet_radius" in k2.table.columns and "pl_radj" in k2.table.columns


def test_astronet_tces(shared_data):
    path = shared_data / "tess_astronet_triage_tces.csv.gz"
    tces = read_dataset(path)
    raw = pd.read_csv(path)
    assert tces.format == "astronet-tces"
    assert tces.counts() == {"total": 12726, "planet": 379, "not_planet": 12347, "unresolved": 0}
    np.testing.assert_allclose(tces.table["transit_duration"], raw["Duration"] * 24.0)
    assert tces.groups[0] == str(raw["tic_id"].iloc[0])
    assert tces.table["toi_id"].iloc[0] == "0.01"  # text, not the number 0.01
    assert tces.id_columns == ("tic_id", "toi_id", "row_id")


def test_label_column_replaces_the_native_one(koi, shared_data):
    pipeline = read_dataset(
        shared_data / "kepler_koi_cumulative.csv.gz", label_column="koi_pdisposition"
    )
    assert pipeline.label_column == "koi_pdisposition"
    assert (
        pipeline.counts()["not_planet"] == (koi.table["koi_pdisposition"] == "FALSE POSITIVE").sum()
    )


def test_missing_named_label_column(shared_data):
    with pytest.raises(DataError, match=r"label column 'nope' not found.*--label-column"):
        read_dataset(shared_data / "kepler_koi_cumulative.csv.gz", label_column="nope")


def test_forced_archive_format_needs_its_columns(shared_data):
    with pytest.raises(DataError, match=r"not a toi table: missing column\(s\) tfopwg_disp"):
        read_dataset(shared_data / "kepler_koi_cumulative.csv.gz", format="toi")
