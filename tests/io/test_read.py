"""read_dataset: format detection, dispatch, joins, label overrides and user errors."""

from __future__ import annotations

import gzip
import shutil

import pandas as pd
import pytest

from exohunt.errors import ConfigError, DataError
from exohunt.io import FORMATS, bundled_koi_path, detect_format, read_dataset


@pytest.mark.parametrize(
    ("name", "format"),
    [
        ("kepler_koi_cumulative.csv.gz", "koi"),
        ("kepler_q1_q17_dr24_tce.csv.gz", "tce"),
        ("kepler_q1_q17_dr24_tce_stellar.csv.gz", "tce"),
        ("tess_toi.csv.gz", "toi"),
        ("k2_pandc.csv.gz", "k2"),
        ("tess_astronet_triage_tces.csv.gz", "astronet-tces"),
        ("tess_astronet_triage_views.npz", "views"),
        ("lightcurves/kepler_q17_lc_sample.jsonl", "jsonl"),
        ("lightcurves/kplr011442793-2010009091648_llc.fits", "fits"),
        ("lightcurves", "lightcurve-folder"),
    ],
)
def test_detects_real_files(shared_data, name, format):
    assert detect_format(shared_data / name) == format


def test_detection_uses_content_not_extension(shared_data, tmp_path):
    disguised = tmp_path / "table.dat"  # a gzipped KOI table with a misleading name
    shutil.copy(shared_data / "kepler_koi_cumulative.csv.gz", disguised)
    assert read_dataset(disguised).format == "koi"


def test_gzip_is_transparent(tmp_path):
    frame = pd.DataFrame({"kepid": [1, 2], "period": [3.5, 10.0], "label": ["yes", "no"]})
    plain = tmp_path / "cat.csv"
    frame.to_csv(plain, index=False)
    packed = tmp_path / "cat.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = read_dataset(plain), read_dataset(packed)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.format == b.format == "catalogue-csv"


def test_bundled_koi_table():
    path = bundled_koi_path()
    assert path.name == "kepler_koi_cumulative.csv.gz" and path.is_file()
    assert len(read_dataset(path)) == 7639


def test_dr24_join(shared_data):
    tce = read_dataset(
        shared_data / "kepler_q1_q17_dr24_tce.csv.gz",
        join=shared_data / "kepler_q1_q17_dr24_tce_stellar.csv.gz",
    )
    assert len(tce) == 16220
    assert tce.table["tce_sradius"].notna().sum() > 16000
    assert "transit_epoch" in tce.table.columns  # tce_time0bk of the main table
    assert tce.counts()["planet"] == 2874
    assert any(
        n.startswith("joined 16220 of 16220 rows with kepler_q1_q17_dr24_tce_stellar.csv.gz "
                     "on kepid, tce_plnt_num")
        for n in tce.notes
    )  # fmt: skip


def test_join_without_shared_key(shared_data, tmp_path):
    other = tmp_path / "other.csv"
    pd.DataFrame({"x": [1], "y": [2]}).to_csv(other, index=False)
    with pytest.raises(DataError, match=r"shares no key column.*columns are: x, y"):
        read_dataset(shared_data / "kepler_q1_q17_dr24_tce.csv.gz", join=other)


def test_join_with_repeated_keys(shared_data):
    with pytest.raises(DataError, match="one row per key"):
        read_dataset(
            shared_data / "kepler_q1_q17_dr24_tce.csv.gz",
            join=shared_data / "kepler_koi_cumulative.csv.gz",
        )


def test_labels_given_as_one_string(shared_data):
    triage = read_dataset(
        shared_data / "tess_astronet_triage_tces.csv.gz",
        positive_labels="PC,EB",
        negative_labels="J",
    )
    assert triage.counts() == {"total": 12726, "planet": 2081, "not_planet": 10643, "unresolved": 2}
    assert "labels: planet = PC, EB; not planet = J" in triage.notes


def test_label_value_that_does_not_occur(shared_data):
    with pytest.raises(ConfigError, match=r"--positive-labels value\(s\) CONFIMED do not occur"):
        read_dataset(shared_data / "kepler_koi_cumulative.csv.gz", positive_labels=["CONFIMED"])


def test_label_override_needs_labels(tmp_path):
    path = tmp_path / "unlabelled.csv"
    pd.DataFrame({"kepid": [1], "period": [2.0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="has no labels"):
        read_dataset(path, positive_labels=["1"])


def test_unknown_format():
    with pytest.raises(ConfigError, match=r"unknown format 'parquet'; choose one of: auto, koi"):
        read_dataset("anything.csv", format="parquet")
    assert "lightcurve-folder" in FORMATS and len(FORMATS) == 12


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"no such file: .*nothing\.csv \(check the path"):
        read_dataset(tmp_path / "nothing.csv")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.touch()
    with pytest.raises(DataError, match=r"file is empty: .*empty\.csv"):
        read_dataset(path)


def test_header_only_file(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("kepid,label\n")
    with pytest.raises(DataError, match=r"no data rows: .*header\.csv"):
        read_dataset(path)


def test_unknown_csv_lists_columns(tmp_path):
    path = tmp_path / "mystery.csv"
    pd.DataFrame({"alpha": [1], "beta": [2]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"columns are: alpha, beta .*--format.*--label-column"):
        read_dataset(path)


def test_forced_format_of_the_wrong_kind(shared_data):
    with pytest.raises(
        DataError, match=r"is a CSV file, which the 'fits' reader cannot read \(use --format toi"
    ):
        read_dataset(shared_data / "tess_toi.csv.gz", format="fits")


def test_labels_only_for_light_curves(shared_data):
    with pytest.raises(ConfigError, match="--labels only applies to light-curve files"):
        read_dataset(shared_data / "tess_toi.csv.gz", labels=shared_data / "tess_toi.csv.gz")


def test_archive_comment_lines_only_at_the_top(tmp_path):
    path = tmp_path / "hash.csv"
    path.write_text("# a header line\n# another\nkepid,label,note\n1,yes,#1 target\n2,no,x\n")
    data = read_dataset(path)
    assert data.table["note"].tolist() == ["#1 target", "x"]
    assert data.labels.tolist() == [1.0, 0.0]
