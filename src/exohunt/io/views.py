"""AstroNet view archives (``.npz``): phase-folded ``global_view``/``local_view`` plus metadata.

The arrays are loaded with ``allow_pickle=False``. Every 1-D array of the archive's length is a
metadata column (``tic_id``, ``Disposition``, ``Period`` [d], ``Epoc`` [BTJD], ``Duration`` [d], ...)
and becomes the table, read like the AstroNet TCE CSV (:mod:`exohunt.io.archive`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from exohunt.dataset import Dataset
from exohunt.errors import DataError
from exohunt.io._files import check_numbers, check_table, load_npz
from exohunt.io.archive import ARCHIVE_FORMATS, archive_dataset
from exohunt.io.columns import (
    DEFAULT_LABEL_COLUMN,
    canonicalize,
    choose_label,
    list_columns,
    row_groups,
)

logger = logging.getLogger(__name__)

VIEW_KEYS = ("global_view", "local_view")
#: Array kinds an archive may hold: booleans, numbers and fixed-width text (not complex numbers,
#: dates or records).
_KINDS = "biufUS"


def is_views(keys) -> bool:
    return any(k in keys for k in VIEW_KEYS)


def read_views(path: Path, label_column: str = DEFAULT_LABEL_COLUMN) -> Dataset:
    """Read an AstroNet ``.npz``; ``views`` holds float32 ``(N, bins)`` arrays.

    With AstroNet metadata (``tic_id`` and ``Disposition``) labels are PC planet, EB/J/O not;
    otherwise the generic label rules apply. Raises DataError if the archive has no view array,
    holds Python objects or arrays that are not numbers or text, has no rows, or the arrays
    disagree in length, or a value is infinite or absurdly large.
    """
    arrays = load_npz(path)
    if not is_views(arrays):
        raise DataError(
            f"{path} has no global_view or local_view array; arrays are: "
            f"{list_columns(arrays) or 'none'} (is it an AstroNet view archive?)"
        )
    for key, array in arrays.items():
        if array.dtype.kind not in _KINDS:
            raise DataError(
                f"array {key!r} in {path} holds {array.dtype} values; exohunt reads arrays of "
                "numbers and text only (re-create the archive with numpy.savez)"
            )
    views = {}
    for key in VIEW_KEYS:
        if key in arrays:
            view = arrays[key]
            if view.ndim != 2 or view.dtype.kind not in "iuf":
                raise DataError(
                    f"{key!r} in {path} holds {view.dtype} values of shape {view.shape}; "
                    "expected numbers of shape (rows, bins)"
                )
            with np.errstate(over="ignore"):  # beyond float32: infinity, refused below
                view = view.astype(np.float32)
            check_numbers(view, f"{key!r} in {path}")
            views[key] = view
    n = len(next(iter(views.values())))
    if n == 0:
        raise DataError(f"the views in {path} have no rows (is it the right file?)")
    if any(len(v) != n for v in views.values()):
        shapes = ", ".join(f"{k} {v.shape}" for k, v in views.items())
        raise DataError(f"the views in {path} have different row counts ({shapes})")
    table = pd.DataFrame(
        {k: v for k, v in arrays.items() if k not in VIEW_KEYS and v.ndim == 1 and len(v) == n}
    )
    check_table(table, path)
    table = table.reindex(range(n)) if table.empty else table
    astronet = ARCHIVE_FORMATS["astronet-tces"]
    if all(c in table.columns for c in astronet.signature):
        dataset = archive_dataset(table, astronet, path, label_column)
    else:
        table = canonicalize(table)
        column, mapping = choose_label(table.columns, label_column, path)
        groups, id_columns = row_groups(table)
        dataset = Dataset(
            table=table,
            groups=groups,
            format="views",
            source=str(path),
            raw_labels=None if column is None else table[column],
            mapping=mapping,
            label_column=column,
            id_columns=id_columns,
        )
    logger.info("read %d views from %s", n, path)
    return replace(dataset, format="views", views=views)
