"""Canonical column names, their aliases, and the label conventions shared by the readers.

Every tabular reader renames the first alias it finds to the canonical name, so features see
``orbital_period`` whether the file said ``koi_period``, ``pl_orbper`` or ``tce_period``. Other
columns keep their names.

Canonical columns and units:

=================  ==========================================================================
orbital_period     days
transit_duration   hours (AstroNet's ``Duration`` is in days; its reader multiplies by 24)
planet_radius      Earth radii (``pl_radj``, in Jupiter radii, is never used)
stellar_temp       kelvin
transit_depth      parts per million
transit_epoch      days, in the mission's light-curve time system: BKJD = BJD - 2454833 for
                   Kepler, BTJD = BJD - 2457000 for TESS (``pl_tranmid``, full BJD, is not one)
=================  ==========================================================================
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from exohunt.dataset import LabelMapping
from exohunt.io._files import printable

#: canonical name -> aliases, in order of preference.
ALIASES: dict[str, tuple[str, ...]] = {
    "orbital_period": ("period", "koi_period", "pl_orbper", "tce_period", "Period"),
    "transit_duration": ("koi_duration", "pl_trandurh", "tce_duration"),
    "planet_radius": ("koi_prad", "pl_rade"),
    "stellar_temp": ("koi_steff", "st_teff", "tce_steff", "teff"),
    "transit_depth": ("koi_depth", "pl_trandep", "Transit_Depth", "depth"),
    "transit_epoch": ("koi_time0bk", "tce_time0bk", "Epoc", "epoch"),
}

#: Columns that identify the star of a row in generic files, in order of preference.
STAR_ID_COLUMNS = ("star_id", "kepid", "kic", "tic_id", "tid", "hostname", "target", "id", "name")

#: Labels of generic files (0/1, yes/no, dispositions). Anything else is unresolved.
GENERIC_MAPPING = LabelMapping(
    positive=("1", "true", "yes", "planet", "CONFIRMED", "CP", "KP", "conf"),
    negative=(
        *("0", "false", "no", "FALSE POSITIVE", "FP", "FA", "REFUTED"),
        *("AFP", "NTP", "EB", "J", "eb", "fp"),
    ),
)


def canonicalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the first alias of each canonical column renamed to its canonical name.

    A canonical column that is already present is left alone, and so are the other aliases.
    """
    renames = {}
    for canonical, aliases in ALIASES.items():
        if canonical in frame.columns:
            continue
        for alias in aliases:
            if alias in frame.columns and alias not in renames:
                renames[alias] = canonical
                break
    return frame.rename(columns=renames)


def is_known_column(name: str) -> bool:
    """True if ``name`` is a canonical column or one of its aliases."""
    return name in ALIASES or any(name in aliases for aliases in ALIASES.values())


def find_column(columns, name: str) -> str | None:
    """The column called ``name``: an exact match, else the only case-insensitive match."""
    if name in columns:
        return name
    matches = [c for c in columns if str(c).lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


#: At most 18 digits: every Kepler, K2 and TIC id fits (and so does a 64-bit integer).
_STAR_PREFIX = re.compile(r"^(?:kplr|ktwo|kic|tic|epic)[\s_-]*0*(\d{1,18})(?!\d)", re.IGNORECASE)


def id_strings(values) -> np.ndarray:
    """Star ids as strings: integers without ``.0`` or leading zeros; missing values as ``""``."""
    out = []
    for value in values:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            out.append("")
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            out.append(str(int(value)))
        else:
            text = str(value).strip()
            out.append(str(int(text)) if text.isdigit() else text)
    return np.asarray(out, dtype=object)


def row_groups(frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """Groups (star id per row) and id columns of a generic table.

    The star is the first of :data:`STAR_ID_COLUMNS` present; a row without one is its own star,
    ``"row-<i>"`` (0-based). The id columns are all of :data:`STAR_ID_COLUMNS` present.
    """
    present = tuple(c for c in STAR_ID_COLUMNS if c in frame.columns)
    if present:
        groups = id_strings(frame[present[0]])
    else:
        groups = np.full(len(frame), "", dtype=object)
    missing = groups == ""
    groups[missing] = [f"row-{i}" for i in np.flatnonzero(missing)]
    return groups.astype(str), present


def star_id_from_name(name: str) -> str | None:
    """The star id in a Kepler/K2/TESS file name (``kplr000757450-...`` -> ``"757450"``), or None."""
    match = _STAR_PREFIX.match(name.strip())
    if match:
        return str(int(match.group(1)))
    tess = re.search(r"-0*(\d{6,16})-\d{4}-[a-z]_lc", name)
    return str(int(tess.group(1))) if tess else None


#: The label column of generic files unless the user names another.
DEFAULT_LABEL_COLUMN = "label"


def list_columns(columns, limit: int = 30) -> str:
    """Column names for an error message: ``a, b, c, ... (12 more)``."""
    columns = [printable(c) for c in columns]
    text = ", ".join(columns[:limit])
    return text + (f", ... ({len(columns) - limit} more)" if len(columns) > limit else "")


def choose_label(
    columns,
    label_column: str,
    source,
    native: str | None = None,
    native_mapping: LabelMapping | None = None,
) -> tuple[str | None, LabelMapping | None]:
    """The label column of a table and its mapping, or ``(None, None)`` if it is unlabelled.

    ``native`` is the format's own label column (``koi_disposition``, ...). A ``label_column``
    other than the default must exist (DataError otherwise) and then wins; a column other than
    the native one is read with :data:`GENERIC_MAPPING`.
    """
    if label_column != DEFAULT_LABEL_COLUMN or native is None:
        found = find_column(columns, label_column)
        if found is None and label_column != DEFAULT_LABEL_COLUMN:
            from exohunt.errors import DataError

            raise DataError(
                f"label column '{label_column}' not found in {source}; columns are: "
                f"{list_columns(columns)} (use --label-column)"
            )
        if found is not None:
            return found, native_mapping if found == native else GENERIC_MAPPING
        if native is None:
            return None, None
    return native, native_mapping
