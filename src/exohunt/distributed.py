"""Light-curve features in chunks: on the local cores, or on a Dask cluster.

:func:`transform_chunks` applies a fitted transformer (``TransitFeatures``) to an iterable of
model-input frames and yields the feature rows chunk by chunk, in order. At most
``max_in_flight`` chunks are held at once, so memory grows with the chunk size, not with the number
of light curves. :func:`read_parquet_chunks` streams such frames from a Parquet file with one
light curve per row (a list column ``flux``, optionally ``time``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.errors import ConfigError, DataError, MissingDependencyError

log = logging.getLogger(__name__)


def read_parquet_chunks(path: str | Path, chunk_rows: int = 1000) -> Iterator[pd.DataFrame]:
    """Frames of at most ``chunk_rows`` rows from a Parquet file, with list columns as arrays."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "reading Parquet", extra="scale") from exc
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path} (check the path)")
    # pre_buffer (pyarrow's default) caches every column chunk read for the reader's lifetime:
    # memory would grow with the file, not with the chunk.
    reader = pq.ParquetFile(path, pre_buffer=False)
    for batch in reader.iter_batches(batch_size=chunk_rows):
        frame = batch.to_pandas()
        for column in ("flux", "time"):
            if column in frame.columns:
                frame[column] = [np.asarray(v, dtype=float) for v in frame[column]]
        yield frame


def _transform(transformer, frame: pd.DataFrame) -> np.ndarray:
    return transformer.transform(frame)


def transform_chunks(
    transformer,
    chunks: Iterable[pd.DataFrame],
    scheduler: str | None = None,
    max_in_flight: int = 4,
    progress: Callable[[str, int, int], None] | None = None,
    total: int = 0,
) -> Iterator[np.ndarray]:
    """Apply a fitted ``transformer`` to each frame of ``chunks``; yield the results in order.

    Parameters
    ----------
    scheduler : str or None
        ``None`` runs on this machine (the transformer spreads each chunk over the local cores);
        ``tcp://HOST:PORT`` sends chunks to that Dask scheduler.
    max_in_flight : int
        Chunks submitted but not yet returned, at most (bounds memory on the client).
    progress : callable, optional
        ``progress("light-curve features", rows_done, total)``.
    """
    if max_in_flight < 1:
        raise ConfigError(f"max_in_flight {max_in_flight} must be at least 1")
    done = 0
    if scheduler is None:
        for frame in chunks:
            out = _transform(transformer, frame)
            done += len(frame)
            if progress is not None:
                progress("light-curve features", done, total or done)
            yield out
        return

    client = connect(scheduler)
    try:
        remote = client.scatter(transformer, broadcast=True)
        window: list = []
        for frame in chunks:
            window.append((len(frame), client.submit(_transform, remote, frame, pure=False)))
            if len(window) >= max_in_flight:
                n, future = window.pop(0)
                yield future.result()
                done += n
                if progress is not None:
                    progress("light-curve features", done, total or done)
        for n, future in window:
            yield future.result()
            done += n
            if progress is not None:
                progress("light-curve features", done, total or done)
    finally:
        client.close()


def connect(scheduler: str):
    """A Dask client for ``scheduler`` (``tcp://HOST:PORT``); ConfigError when it does not answer."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise MissingDependencyError("distributed", "--scheduler", extra="scale") from exc
    if not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise ConfigError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address "
            "(use tcp://HOST:PORT, as printed by 'dask scheduler')"
        )
    try:
        return Client(scheduler, timeout="10s")
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler}: {exc} "
            "(start it with 'dask scheduler' and workers with 'dask worker', or drop --scheduler)"
        ) from exc


def features_table(transformer, chunks, scheduler=None, **kwargs) -> pd.DataFrame:
    """All chunks' features as one table (for data that fits in memory)."""
    names = list(transformer.get_feature_names_out())
    parts = list(transform_chunks(transformer, chunks, scheduler, **kwargs))
    return pd.DataFrame(np.vstack(parts) if parts else np.empty((0, len(names))), columns=names)
