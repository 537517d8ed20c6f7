"""Light-curve features in chunks: on the local cores, or on a Dask cluster.

:func:`transform_chunks` applies a fitted transformer (``TransitFeatures``) to an iterable of
model-input frames and yields the feature rows chunk by chunk, in order. At most
``max_in_flight`` chunks are held at once, so memory grows with the chunk size, not with the number
of light curves. :func:`read_parquet_chunks` streams such frames from a Parquet file with one
light curve per row (a list column ``flux``, optionally ``time``), and :class:`ChunkWriter`
writes the feature rows out as they come, so the table is never held whole either.
"""

from __future__ import annotations

import contextlib
import logging
import os
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


class ChunkWriter:
    """Write frames to one CSV or Parquet file (by ``path``'s suffix), a chunk at a time.

    Rows go to a temporary file beside ``path``, which replaces ``path`` only when
    :meth:`close` is called after every chunk was written: a failed or interrupted run leaves an
    earlier ``path`` as it was. Use as a context manager; leaving it on an exception discards
    the temporary file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.parquet = self.path.suffix.lower() == ".parquet"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self._writer = None
        self._schema = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
            if self._writer is None:
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self._partial, self._schema)
            self._writer.write_table(table)
        else:
            frame.to_csv(
                self._partial, mode="a" if self.rows else "w", header=not self.rows, index=False
            )
        self.rows += len(frame)

    def close(self, columns: list[str] | None = None) -> Path:
        """Finish the file (an empty one with ``columns`` when no chunk came) and move it into
        place; returns ``path``."""
        if self.rows == 0 and self._writer is None:
            empty = pd.DataFrame(columns=columns or [])
            if self.parquet:
                empty.to_parquet(self._partial, index=False)
            else:
                empty.to_csv(self._partial, index=False)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        os.replace(self._partial, self.path)
        return self.path

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with contextlib.suppress(FileNotFoundError):
            self._partial.unlink()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.discard()
