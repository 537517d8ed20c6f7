"""Chunked light-curve features: locally, and on a real two-process Dask cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exohunt.errors import ConfigError
from exohunt.features import make_features
from exohunt.services.distributed import (
    ChunkWriter,
    features_table,
    read_parquet_chunks,
    transform_chunks,
)


@pytest.fixture(scope="module")
def curves(shared_data) -> pd.DataFrame:
    """Real Kepler Q17 light curves (JSONL sample), cut into 60 pieces of 300 cadences."""
    from exohunt.io import read_dataset

    dataset = read_dataset(shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl")
    rows = []
    for time, flux in zip(dataset.time, dataset.flux, strict=True):
        for start in range(0, 1200, 240):
            rows.append({"time": time[start : start + 300], "flux": flux[start : start + 300]})
    return pd.DataFrame(rows)


def _flux_step(frame):
    union = make_features(frame.assign(orbital_period=1.0))
    return dict(union.transformer_list)["flux"].fit(frame)


def _chunks(frame, size):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size].reset_index(drop=True)


def test_chunked_features_equal_the_one_shot_transform(curves):
    step = _flux_step(curves)
    chunked = features_table(step, _chunks(curves, 7))
    assert np.allclose(chunked.to_numpy(), step.transform(curves), equal_nan=True)
    assert list(chunked.columns) == list(step.get_feature_names_out())


def test_a_two_worker_dask_cluster_gives_the_local_features(curves):
    distributed = pytest.importorskip("dask.distributed")
    step = _flux_step(curves)
    local = features_table(step, _chunks(curves, 10))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = features_table(step, _chunks(curves, 10), scheduler=cluster.scheduler_address)
        assert len(cluster.workers) == 2
    assert np.allclose(remote.to_numpy(), local.to_numpy(), equal_nan=True)


def test_parquet_chunks_stream_light_curves(tmp_path, curves):
    pytest.importorskip("pyarrow")
    path = tmp_path / "curves.parquet"
    curves.assign(star_id=[f"s{i}" for i in range(len(curves))]).to_parquet(path, row_group_size=16)
    sizes = [len(frame) for frame in read_parquet_chunks(path, chunk_rows=25)]
    assert sum(sizes) == len(curves) and max(sizes) <= 25
    first = next(read_parquet_chunks(path, chunk_rows=25))
    assert isinstance(first["flux"].iloc[0], np.ndarray)
    assert np.allclose(first["flux"].iloc[0], curves["flux"].iloc[0], equal_nan=True)


def test_reading_parquet_chunks_holds_one_chunk_not_the_file(tmp_path, curves):
    """Arrow memory while streaming stays near one chunk's worth, however long the file is
    (pyarrow's default pre-buffering kept every chunk read: 1.4 GB after 30,000 curves)."""
    pa = pytest.importorskip("pyarrow")
    path = tmp_path / "long.parquet"
    many = pd.concat([curves] * 100, ignore_index=True)  # 6,000 real light curves
    many.to_parquet(path, row_group_size=100)
    chunk_bytes = 100 * 300 * 16  # 100 curves of 300 cadences, flux and time as float64
    peak = 0
    for frame in read_parquet_chunks(path, chunk_rows=100):
        assert len(frame) <= 100
        peak = max(peak, pa.total_allocated_bytes())
    assert peak < 5 * chunk_bytes  # the whole file is 60 chunks


def test_a_bad_scheduler_address_is_refused(curves):
    step = _flux_step(curves)
    with pytest.raises(ConfigError, match="not a Dask scheduler address"):
        list(transform_chunks(step, _chunks(curves, 10), scheduler="localhost:8786"))


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_the_chunk_writer_replaces_the_output_only_when_done(tmp_path, name):
    path = tmp_path / name
    first = pd.DataFrame({"star_id": ["a", "b"], "depth": [1.0, np.nan]})
    second = pd.DataFrame({"star_id": ["c"], "depth": [3.0]})
    with ChunkWriter(path) as writer:
        writer.write(first)
        writer.write(second)
        writer.close()
    read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
    written = read(path)
    assert written["star_id"].tolist() == ["a", "b", "c"]
    assert np.isnan(written["depth"][1])

    with pytest.raises(RuntimeError), ChunkWriter(path) as writer:
        writer.write(second)
        raise RuntimeError("the run fails half-way")
    assert read(path)["star_id"].tolist() == ["a", "b", "c"]  # the earlier output is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # and no partial file is left
