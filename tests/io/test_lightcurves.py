"""Light-curve files: the real Kepler-90 FITS quarters, the Q17 JSONL sample, and folders."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import DataError
from exohunt.io import read_dataset

KEPLER90 = 11442793
QUARTERS = (
    "kplr011442793-2009350155506_llc.fits",
    "kplr011442793-2010009091648_llc.fits",
    "kplr011442793-2010174085026_llc.fits",
)


def _good_cadences(path):
    """Reference: TIME of the cadences with SAP_QUALITY == 0 and finite TIME/PDCSAP_FLUX."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        data = hdul[1].data
        time = np.array(data["TIME"], dtype=float)
        keep = (data["SAP_QUALITY"] == 0) & np.isfinite(time) & np.isfinite(data["PDCSAP_FLUX"])
        return time[keep]


@pytest.fixture
def kepler90_folder(shared_data, tmp_path):
    folder = tmp_path / "kepler90"
    folder.mkdir()
    for name in QUARTERS:
        shutil.copy(shared_data / "lightcurves" / name, folder / name)
    return folder


def test_single_fits_file(shared_data):
    path = shared_data / "lightcurves" / QUARTERS[0]
    data = read_dataset(path)
    assert data.format == "fits" and len(data) == 1 and not data.has_labels
    row = data.table.iloc[0]
    assert row["kepid"] == KEPLER90 and data.groups.tolist() == [str(KEPLER90)]
    assert row["stellar_temp"] == 5970 and row["stellar_radius"] == pytest.approx(1.2)
    np.testing.assert_array_equal(data.time[0], _good_cadences(path))
    assert row["n_cadences"] == len(data.flux[0])
    assert np.median(data.flux[0]) == pytest.approx(1.0)
    assert any("BKJD = BJD - 2454833" in note for note in data.notes)


def test_three_quarters_are_stitched(kepler90_folder):
    data = read_dataset(kepler90_folder)
    assert data.format == "lightcurve-folder"
    assert len(data) == 1 and data.table["kepid"].tolist() == [KEPLER90]
    time, flux = data.time[0], data.flux[0]
    expected = np.sort(np.concatenate([_good_cadences(kepler90_folder / n) for n in QUARTERS]))
    np.testing.assert_array_equal(time, expected)  # no quality-flagged cadence survives
    assert 260 < time.min() and time.max() < 540  # BKJD, quarters 3 to 5
    assert np.all(np.diff(time) > 0)
    assert np.all(np.isfinite(flux)) and np.median(flux) == pytest.approx(1.0, abs=1e-3)
    assert "stitched 3 files of star 11442793: each divided by its median" in data.notes


def test_folder_with_labels_csv(kepler90_folder, shared_data):
    shutil.copy(shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl", kepler90_folder)
    pd.DataFrame(
        {"kic": [KEPLER90, 757450], "disposition": ["CONFIRMED", "FALSE POSITIVE"]}
    ).to_csv(kepler90_folder / "labels.csv", index=False)
    data = read_dataset(kepler90_folder)
    labels = dict(zip(data.groups, data.labels, strict=True))
    assert labels[str(KEPLER90)] == 1.0 and labels["757450"] == 0.0
    assert np.isnan(labels["1026032"])  # no row in labels.csv: unlabelled
    assert any("11 light curve(s) have no row in labels.csv" in note for note in data.notes)


def test_labels_matched_on_file_names(kepler90_folder, tmp_path):
    labels = tmp_path / "by_file.csv"
    pd.DataFrame({"file": [QUARTERS[1]], "label": ["conf"]}).to_csv(labels, index=False)
    data = read_dataset(kepler90_folder, labels=labels)
    assert data.labels.tolist() == [1.0]


def test_single_fits_with_labels(shared_data, tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"kepid": [KEPLER90], "label": [1]}).to_csv(labels, index=False)
    data = read_dataset(shared_data / "lightcurves" / QUARTERS[1], labels=labels)
    assert data.counts() == {"total": 1, "planet": 1, "not_planet": 0, "unresolved": 0}


def test_conflicting_labels(kepler90_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"kepid": [KEPLER90, KEPLER90], "label": ["conf", "fp"]}).to_csv(
        labels, index=False
    )
    with pytest.raises(DataError, match=r"kepid 11442793 has two labels .*keep one row per star"):
        read_dataset(kepler90_folder, labels=labels)


def test_labels_that_match_nothing(kepler90_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"kepid": [1], "label": ["conf"]}).to_csv(labels, index=False)
    with pytest.raises(DataError, match="no light curve matched a row"):
        read_dataset(kepler90_folder, labels=labels)


def test_folder_with_several_csvs(kepler90_folder):
    for name in ("a.csv", "b.csv"):
        (kepler90_folder / name).write_text("kepid,label\n11442793,1\n")
    with pytest.raises(
        DataError, match=r"several CSV files \(a.csv, b.csv\); pick one with --labels"
    ):
        read_dataset(kepler90_folder)


def test_folder_without_light_curves(tmp_path):
    with pytest.raises(DataError, match="no light-curve files"):
        read_dataset(tmp_path)


def test_gzipped_fits(shared_data, tmp_path):
    path = tmp_path / (QUARTERS[1] + ".gz")
    path.write_bytes(gzip.compress((shared_data / "lightcurves" / QUARTERS[1]).read_bytes()))
    data = read_dataset(path)
    assert data.format == "fits" and data.table["kepid"].tolist() == [KEPLER90]


def test_fits_that_is_not_a_light_curve(tmp_path):
    from astropy.io import fits

    path = tmp_path / "image.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4)))]).writeto(path)
    with pytest.raises(DataError, match="not a light-curve FITS file"):
        read_dataset(path)


def test_jsonl_sample(shared_data, q17_records):
    data = read_dataset(shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl")
    assert data.format == "jsonl"
    assert len(data) == 12
    assert data.counts() == {"total": 12, "planet": 4, "not_planet": 8, "unresolved": 0}
    assert list(data.table.columns) == ["kepid", "name", "label"]
    assert data.table["kepid"].dtype == np.int64
    assert data.groups[4] == "757450" and data.table["name"][4] == q17_records[4]["name"]
    assert (data.groups == "1026957").sum() == 2  # listed twice, once as eb and once as fp
    assert data.id_columns == ("kepid", "name")
    time, flux = (np.array(q17_records[0][k], dtype=float) for k in ("time", "flux"))
    keep = np.isfinite(time) & np.isfinite(flux)  # NaN cadences are dropped, as for FITS
    assert (~keep).sum() > 0
    np.testing.assert_array_equal(data.flux[0], flux[keep])
    np.testing.assert_array_equal(data.time[0], time[keep])
    assert 1559 < data.time[0].min() and data.time[0].max() < 1592  # BKJD
    assert any(note.startswith("dropped ") for note in data.notes)


def test_shared_lightcurve_folder(shared_data):
    data = read_dataset(shared_data / "lightcurves")
    assert len(data) == 13  # 12 JSONL curves and the stitched Kepler-90
    assert data.counts()["planet"] == 4 and data.counts()["unresolved"] == 1


def test_bad_json_line(tmp_path):
    path = tmp_path / "curves.jsonl"
    path.write_text('{"name": "kplr000000001-x_llc", "flux": [1, 2]}\n{"flux": [1, \n')
    with pytest.raises(DataError, match=r"line 2 of .*curves\.jsonl is not JSON"):
        read_dataset(path)


def test_json_line_without_flux(tmp_path):
    path = tmp_path / "curves.jsonl"
    path.write_text('{"name": "a", "time": [1, 2]}\n')
    with pytest.raises(DataError, match=r"line 1 of .* needs a 'flux' list"):
        read_dataset(path)


def test_tess_style_fits(tmp_path):
    """A file laid out like a TESS SPOC light curve (built here: no TESS FITS is in shared/)."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="TESS", TICID=25155310, TEFF=5800.0, RADIUS=1.1, TESSMAG=9.5)
    time = np.linspace(1325.3, 1327.3, 6)
    columns = [
        fits.Column("TIME", "D", array=np.where(np.arange(6) == 2, np.nan, time)),
        fits.Column("PDCSAP_FLUX", "E", array=np.array([10.0, 10.0, 10.0, 20.0, 30.0, 10.0])),
        fits.Column("QUALITY", "J", array=np.array([0, 0, 0, 0, 128, 0])),
    ]
    table = fits.BinTableHDU.from_columns(columns)
    table.header.update(BJDREFI=2457000, BJDREFF=0.0, TIMESYS="TDB", TIMEREF="SOLARSYSTEM")
    path = tmp_path / "tess2018206045859-s0001-0000000025155310-0120-s_lc.fits"
    fits.HDUList([primary, table]).writeto(path)

    data = read_dataset(path)
    assert data.table["tic_id"].tolist() == [25155310] and data.groups.tolist() == ["25155310"]
    assert data.table["tessmag"].tolist() == [9.5]
    np.testing.assert_allclose(data.time[0], time[[0, 1, 3, 5]])  # NaN time and QUALITY 128 go
    np.testing.assert_allclose(data.flux[0], [1.0, 1.0, 2.0, 1.0])
    assert "time of 1 FITS light curve(s) is BTJD = BJD - 2457000 (TDB, SOLARSYSTEM)" in data.notes


def _relayout(source, path, columns, primary_cards, extname=None):
    """The real light curve ``source`` written in another pipeline's layout: ``columns`` maps
    each new column name to the source column it copies."""
    from astropy.io import fits

    with fits.open(source) as hdul:
        data = hdul[1].data
        new = [fits.Column(name, "D", array=np.asarray(data[old], dtype=float))
               for name, old in columns.items()]  # fmt: skip
        header = hdul[1].header
        refs = {k: header[k] for k in ("BJDREFI", "BJDREFF", "TIMESYS") if k in header}
    primary = fits.PrimaryHDU()
    primary.header.update(primary_cards)
    table = fits.BinTableHDU.from_columns(new, name=extname)
    table.header.update(refs)
    fits.HDUList([primary, table]).writeto(path)
    return path


TOI_106 = "tess2018206045859-s0001-0000000038846515-0120-s_lc.fits"


def test_qlp_layout_reads_its_detrended_flux(shared_data, tmp_path):
    """MIT QLP files (the TESS FFI light curves behind the Triage views) carry SAP_FLUX and
    KSPSAP_FLUX, no PDCSAP_FLUX: the corrected flux is read, and a note says which."""
    source = shared_data / "real_lightcurves" / "fits" / TOI_106
    path = _relayout(
        source,
        tmp_path / "hlsp_qlp_tess_ffi_s0001-0000000038846515_tess_v01_llc.fits",
        {"TIME": "TIME", "SAP_FLUX": "SAP_FLUX", "KSPSAP_FLUX": "PDCSAP_FLUX",
         "QUALITY": "QUALITY"},
        {"TELESCOP": "TESS", "TICID": 38846515},
    )  # fmt: skip
    qlp, spoc = read_dataset(path), read_dataset(source)
    assert qlp.table["tic_id"].tolist() == [38846515]
    np.testing.assert_allclose(qlp.time[0], spoc.time[0])
    np.testing.assert_allclose(qlp.flux[0], spoc.flux[0])  # KSPSAP, not SAP
    assert "flux of 1 FITS light curve(s) from KSPSAP_FLUX" in qlp.notes
    assert "time of 1 FITS light curve(s) is BTJD = BJD - 2457000 (TDB)" in qlp.notes
    assert not any("from" in note for note in spoc.notes)


def test_k2sff_layout(shared_data, tmp_path):
    """K2SFF names its columns T and FCOR, in an extension called BESTAPER, without quality
    flags: every finite cadence is kept."""
    from astropy.io import fits

    source = shared_data / "real_lightcurves" / "fits" / "ktwo206103150-c03_llc.fits"
    path = _relayout(
        source,
        tmp_path / "hlsp_k2sff_k2_lightcurve_206103150-c03_kepler_v1_llc.fits",
        {"T": "TIME", "FRAW": "SAP_FLUX", "FCOR": "PDCSAP_FLUX"},
        {"TELESCOP": "Kepler", "MISSION": "K2", "KEPLERID": 206103150},
        extname="BESTAPER",
    )
    data = read_dataset(path)
    with fits.open(source) as hdul:
        raw = hdul[1].data
        finite = np.isfinite(raw["TIME"]) & np.isfinite(raw["PDCSAP_FLUX"])
        expected = raw["PDCSAP_FLUX"][finite] / np.median(raw["PDCSAP_FLUX"][finite])
    assert data.table["kepid"].tolist() == [206103150]
    np.testing.assert_allclose(data.flux[0], expected)
    assert "flux of 1 FITS light curve(s) from FCOR" in data.notes


def test_a_fits_table_without_a_flux_column_names_the_ones_read(tmp_path):
    from astropy.io import fits

    table = fits.BinTableHDU.from_columns(
        [fits.Column("TIME", "D", array=np.arange(5.0)), fits.Column("MAG", "D", array=np.ones(5))]
    )
    path = tmp_path / "magnitudes.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(DataError, match="no TIME and flux columns .*KSPSAP_FLUX"):
        read_dataset(path)
