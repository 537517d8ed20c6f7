"""The one in-memory type every reader returns.

A :class:`Dataset` holds one row per object to classify (a KOI, a TCE, a TOI, a light curve, a
view): its catalogue columns, optionally a light curve or AstroNet views, a label, and the id of the
star it belongs to (used to split by star). Methods return new datasets; nothing mutates in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

#: Columns of :meth:`Dataset.to_frame` that hold one array per row rather than a number.
ARRAY_COLUMNS = ("time", "flux", "global_view", "local_view")

#: Label values in :attr:`Dataset.labels`.
PLANET, NOT_PLANET = 1.0, 0.0


@dataclass(frozen=True)
class LabelMapping:
    """How raw label values (dispositions, 0/1, ...) map to planet / not planet.

    Values are compared case-insensitively after stripping. A value in neither set is unresolved
    (left out of training), unless ``rest_is`` says the other set takes every remaining value.
    """

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    rest_is: str | None = None  # None, "positive" or "negative"

    def map(self, raw: Iterable) -> np.ndarray:
        """Return 1.0 (planet), 0.0 (not planet) or NaN (unresolved/missing) for each raw value."""
        pos = {_norm(v) for v in self.positive}
        neg = {_norm(v) for v in self.negative}
        out = []
        for value in raw:
            key = _norm(value)
            if key == "":
                out.append(np.nan)
            elif key in pos:
                out.append(PLANET)
            elif key in neg:
                out.append(NOT_PLANET)
            elif self.rest_is == "positive":
                out.append(PLANET)
            elif self.rest_is == "negative":
                out.append(NOT_PLANET)
            else:
                out.append(np.nan)
        return np.asarray(out, dtype=float)

    def override(
        self, positive: Iterable[str] | None = None, negative: Iterable[str] | None = None
    ) -> LabelMapping:
        """Apply ``--positive-labels`` / ``--negative-labels``.

        Giving only one side makes every other non-empty value the other class: ``--positive-labels
        PC`` is "PC vs the rest".
        """
        positive = tuple(positive) if positive else None
        negative = tuple(negative) if negative else None
        if positive is None and negative is None:
            return self
        if positive is not None and negative is not None:
            return LabelMapping(positive, negative)
        if positive is not None:
            return LabelMapping(positive, (), rest_is="negative")
        return LabelMapping((), negative, rest_is="positive")

    @classmethod
    def from_dict(cls, data: dict) -> LabelMapping:
        return cls(tuple(data["positive"]), tuple(data["negative"]), data.get("rest_is"))

    def to_dict(self) -> dict:
        return {
            "positive": list(self.positive),
            "negative": list(self.negative),
            "rest_is": self.rest_is,
        }


def _norm(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value).strip().lower()


@dataclass(frozen=True)
class Dataset:
    """Rows to classify, with what is known about each.

    Attributes
    ----------
    table : DataFrame
        Catalogue columns, one row per object, in the reader's canonical names (see
        :data:`exohunt.io.columns.ALIASES`). Includes id and label columns; which columns may become
        features is decided by :mod:`exohunt.features`, not here.
    raw_labels : Series or None
        The label as written in the file (disposition text, 0/1, ...), or None if unlabelled.
    mapping : LabelMapping or None
        How ``raw_labels`` become :attr:`labels`.
    label_column : str or None
        The column of ``table`` the labels came from (never a feature).
    groups : ndarray of str
        The star each row belongs to (``kepid``, TIC id, K2 host, ...), for grouped splits.
    id_columns : tuple of str
        Columns of ``table`` that identify a row; copied to prediction outputs.
    time, flux : list of ndarray or None
        One light curve per row (time in the mission's BJD offset, flux in the file's units).
    views : dict or None
        ``{"global_view": (N, 201), "local_view": (N, 61)}`` float32 arrays.
    format, source : str
        The detected format name and where the data came from (a path).
    notes : list of str
        What the reader did that a user should know (rows dropped, files joined, ...).
    """

    table: pd.DataFrame
    groups: np.ndarray
    format: str
    source: str
    raw_labels: pd.Series | None = None
    mapping: LabelMapping | None = None
    label_column: str | None = None
    id_columns: tuple[str, ...] = ()
    time: list | None = None
    flux: list | None = None
    views: dict | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        n = len(self.table)
        if len(self.groups) != n:
            raise ValueError("groups must have one entry per row")
        for name in ("time", "flux"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} must have one entry per row")

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray | None:
        """1.0 planet, 0.0 not planet, NaN unresolved; None when the data has no labels."""
        if self.raw_labels is None or self.mapping is None:
            return None
        return self.mapping.map(self.raw_labels)

    @property
    def has_labels(self) -> bool:
        return self.raw_labels is not None

    @property
    def has_lightcurves(self) -> bool:
        return self.flux is not None

    @property
    def has_views(self) -> bool:
        return self.views is not None

    def with_mapping(self, mapping: LabelMapping) -> Dataset:
        return replace(self, mapping=mapping)

    def take(self, index) -> Dataset:
        """Rows at the given integer positions (or boolean mask), as a new Dataset."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return replace(
            self,
            table=self.table.iloc[index].reset_index(drop=True),
            groups=self.groups[index],
            raw_labels=None
            if self.raw_labels is None
            else self.raw_labels.iloc[index].reset_index(drop=True),
            time=None if self.time is None else [self.time[i] for i in index],
            flux=None if self.flux is None else [self.flux[i] for i in index],
            views=None if self.views is None else {k: v[index] for k, v in self.views.items()},
        )

    def labelled(self) -> Dataset:
        """Only the rows whose label maps to planet or not planet."""
        labels = self.labels
        if labels is None:
            return self
        return self.take(~np.isnan(labels))

    def counts(self) -> dict[str, int]:
        """Row counts by class: planet, not_planet, unresolved (and total)."""
        labels = self.labels
        total = len(self)
        if labels is None:
            return {"total": total, "unlabelled": total}
        return {
            "total": total,
            "planet": int(np.sum(labels == PLANET)),
            "not_planet": int(np.sum(labels == NOT_PLANET)),
            "unresolved": int(np.sum(np.isnan(labels))),
        }

    def to_frame(self) -> pd.DataFrame:
        """The model input: catalogue columns plus one object column per array input.

        This frame is what the saved Pipeline takes, so training and prediction use one path.
        """
        frame = self.table.copy()
        if self.flux is not None:
            frame["flux"] = pd.Series(list(self.flux), index=frame.index, dtype=object)
            if self.time is not None:
                frame["time"] = pd.Series(list(self.time), index=frame.index, dtype=object)
        if self.views is not None:
            for key, array in self.views.items():
                frame[key] = pd.Series(list(array), index=frame.index, dtype=object)
        return frame


def normalize_label(value) -> str:
    """A raw label as :class:`LabelMapping` compares it: stripped, lower case, ``1.0`` -> ``"1"``."""
    return _norm(value)
