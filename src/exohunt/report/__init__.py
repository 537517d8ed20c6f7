"""Per-candidate vetting reports: pages, the HTML index and the explanations behind each score.

A report is a folder: ``index.html`` (every candidate, sortable and filterable, with thumbnails),
``pages/<id>.png`` (one page each) and ``thumbs/<id>.png``. :class:`ScanReport` collects the
candidates of a scan (:func:`exohunt.scanning.scan` hands it each chunk) and :func:`report_rows`
draws rows of any table a model scores. Pages are drawn on ``n_jobs`` processes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exohunt.report.index import ranking_score
from exohunt.report.pages import Reasons, RowData, StarCurves

log = logging.getLogger(__name__)

#: progress(pages drawn, pages in all)
PageProgress = Callable[[int, int], None]


def model_line(loaded) -> str:
    """The model as a page names it: kind, registered version or folder, and its run."""
    if loaded is None:
        return ""
    meta = loaded.metadata or {}
    parts = [str(meta.get("model_type") or type(loaded.model).__name__)]
    if meta.get("model_version"):
        parts.append(f"v{meta['model_version']}")
    parts.append(str(loaded.source))
    run = meta.get("model_run_id") or meta.get("run_id")
    if run:
        parts.append(f"run {str(run)[:8]}")
    return "  ·  ".join(parts)


def safe_name(text: str) -> str:
    """A file name made of ``text``: letters, digits, ``-``, ``_`` and ``.`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.")[:80] or "row"


# --------------------------------------------------------------------------- drawing, in parallel
@dataclass
class _Task:
    kind: str  # "candidate" or "row"
    id: str
    args: tuple


def _draw(task: _Task, folder: Path) -> str:
    from exohunt.report.pages import draw_candidate, draw_row

    page = folder / "pages" / f"{task.id}.png"
    thumb = folder / "thumbs" / f"{task.id}.png"
    thumb.parent.mkdir(parents=True, exist_ok=True)
    if task.kind == "candidate":
        draw_candidate(*task.args, page, thumb)
    else:
        draw_row(*task.args, page, thumb)
    return task.id


def draw_pages(
    tasks: list[_Task], folder: Path, n_jobs: int = -1, progress: PageProgress | None = None
) -> None:
    """Draw every task's page and thumbnail into ``folder`` on ``n_jobs`` processes."""
    from exohunt.cores import n_workers

    if not tasks:
        return
    workers = n_workers(n_jobs, max(1, len(tasks) // 4))
    done = 0
    if workers == 1:
        results = (_draw(t, folder) for t in tasks)
    else:
        from joblib import delayed

        from exohunt.cores import process_pool

        results = process_pool(workers, return_as="generator_unordered")(
            delayed(_draw)(t, folder) for t in tasks
        )
    for _ in results:
        done += 1
        if progress is not None:
            progress(done, len(tasks))


# --------------------------------------------------------------------------- a scan's report
class ScanReport:
    """The report of a scan, filled chunk by chunk (:meth:`add`), written by :meth:`finish`.

    With ``top``, only the ``top`` best-scored candidates get pages: the curves of the others'
    stars are let go as the scan goes on. Without it, each chunk's pages are drawn as it comes.
    """

    def __init__(
        self,
        folder: str | Path,
        loaded=None,
        top: int | None = None,
        n_jobs: int = -1,
        progress: PageProgress | None = None,
    ):
        self.folder = Path(folder)
        self.loaded = loaded
        self.top = top
        self.n_jobs = n_jobs
        self.progress = progress
        self.entries: list[dict] = []
        self._pending: list[tuple[dict, _Task]] = []  # with top: not drawn yet
        self._drawn = 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, scans, rows: list[dict], explanation=None, inputs: list[dict] | None = None):
        """One chunk: its star scans (with ``curves``), its candidate rows (scored) and the
        explanation of the scores (row for row)."""
        tasks = []
        k = 0
        line = model_line(self.loaded)
        threshold = float(self.loaded.threshold) if self.loaded is not None else np.nan
        for scan in scans:
            curves = scan.curves
            for row in scan.rows:
                reasons = Reasons(
                    score=float(rows[k]["score"]), threshold=threshold, model=line,
                    system_score=_float(rows[k].get("system_score")),
                    star_candidates=_float(rows[k].get("star_candidates")),
                )  # fmt: skip
                if explanation is not None:
                    _fill_reasons(reasons, explanation, k, inputs[k] if inputs else None)
                k += 1
                entry = _entry(row)
                if curves is None:
                    continue
                tasks.append(
                    (entry, _Task("candidate", entry["id"], (curves, row["signal"], reasons)))
                )
        if self.top is None:
            self._draw(tasks)
        else:
            self._pending = sorted(self._pending + tasks, key=lambda et: _rank_key(et[0]))
            self._pending = self._pending[: self.top]

    def _draw(self, tasks) -> None:
        if not tasks:
            return
        offset = self._drawn

        def progress(done, total):
            if self.progress is not None:
                self.progress(offset + done, None if self.top is None else self.top)

        draw_pages([t for _, t in tasks], self.folder, self.n_jobs, progress)
        self.entries.extend(e for e, _ in tasks)
        self._drawn += len(tasks)

    def finish(
        self, title: str, subtitle: str = "", run_id: str | None = None, artifact_path=None
    ) -> Path:
        """Draw the pages still pending and write ``index.html``; returns its path."""
        from exohunt.report.index import write_index

        self._draw(self._pending)
        self._pending = []
        return write_index(
            self.entries, self.folder, title, subtitle=subtitle, run_id=run_id,
            artifact_path=artifact_path if run_id else None,
        )  # fmt: skip


def _rank_key(entry: dict):
    score = ranking_score(entry)
    return (-(score if score is not None else -np.inf), -(entry.get("snr") or 0.0))


def _entry(row: dict) -> dict:
    """An index row of a scan's candidate row."""
    ident = safe_name(f"{row['star_id']}_{row['signal']}")
    return {
        "id": ident,
        "star_id": str(row["star_id"]),
        "signal": int(row["signal"]),
        "score": _float(row.get("score")),
        "system_score": _float(row.get("system_score")),
        "period": _float(row.get("period")),
        "snr": _float(row.get("snr")),
        "depth_ppm": _float(row.get("depth_ppm")),
        "duration_hours": _float(row.get("duration_hours")),
        "single_transit": bool(row.get("single_transit")),
        "label": str(row.get("label", "") or ""),
        "page": f"pages/{ident}.png",
        "thumb": f"thumbs/{ident}.png",
    }


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _fill_reasons(reasons: Reasons, explanation, i: int, model_input: dict | None) -> None:
    reasons.top = explanation.top(i, 10)
    reasons.output = explanation.output
    reasons.method = explanation.method
    for name, values in (explanation.view_maps or {}).items():
        reasons.view_maps[name] = np.asarray(values[i])
        if model_input is not None and name in model_input:
            reasons.views[name] = np.asarray(model_input[name], dtype=float)


def curves_of(star, result, time, flux) -> StarCurves:
    """What a report needs of one searched star (:func:`exohunt.lightcurve.search.search_star`'s
    ``result`` on ``time`` and ``flux``)."""
    level = np.median(flux) if result.relative else 1.0
    return StarCurves(
        star_id=str(star.star_id),
        mission=star.mission,
        time_system=star.time_system,
        time=np.asarray(time, dtype=float),
        flux=np.asarray(flux / level if result.relative else flux, dtype=np.float32),
        detrended_time=np.asarray(result.time, dtype=float),
        detrended_flux=np.asarray(result.flux, dtype=np.float64),
        relative=bool(result.relative),
        signals=list(result.signals),
        periods=None if result.power is None else np.asarray(result.periods, dtype=np.float32),
        power=None if result.power is None else np.asarray(result.power, dtype=np.float32),
        source=star.source,
    )


# --------------------------------------------------------------------------- rows of a table
def review_rows(y: np.ndarray, proba: np.ndarray, threshold: float, per_group: int = 3) -> dict:
    """The test rows a reviewer looks at first, by group: the most confident planets and
    non-planets, and the worst errors (false positives, missed planets). ``{group: indices}``."""
    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    order = np.argsort(-proba, kind="stable")
    groups = {
        "confident planet": [i for i in order if y[i] == 1 and proba[i] >= threshold],
        "confident non-planet": [i for i in order[::-1] if y[i] == 0 and proba[i] < threshold],
        "false positive": [i for i in order if y[i] == 0 and proba[i] >= threshold],
        "missed planet": [i for i in order[::-1] if y[i] == 1 and proba[i] < threshold],
    }
    return {name: [int(i) for i in rows[:per_group]] for name, rows in groups.items()}


def report_rows(
    loaded,
    dataset,
    folder: str | Path,
    rows: list[int] | None = None,
    groups: dict[str, list[int]] | None = None,
    *,
    top: int | None = None,
    title: str = "",
    subtitle: str = "",
    run_id: str | None = None,
    artifact_path: str | None = None,
    n_jobs: int = -1,
    progress: PageProgress | None = None,
    background: np.ndarray | None = None,
) -> Path:
    """Pages for rows of ``dataset`` scored by ``loaded`` (:class:`exohunt.predict.LoadedModel`),
    and their index; returns the index's path.

    ``rows`` picks rows by position (default: all; with ``top``, the ``top`` best scored);
    ``groups`` names them instead (``{"false positive": [...], ...}``: :func:`review_rows`),
    shown in each page's subtitle and the index's label column."""
    from exohunt.report.explain import explain
    from exohunt.report.index import write_index

    artifact_path = artifact_path if run_id else None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    named: dict[int, str] = {}
    if groups is not None:
        for name, indices in groups.items():
            for i in indices:
                named.setdefault(i, name)
        rows = list(named)
    frame = dataset.to_frame()
    if rows is None:
        rows = list(range(len(frame)))
    if not rows:
        return write_index([], folder, title, subtitle=subtitle, run_id=run_id,
                           artifact_path=artifact_path)  # fmt: skip
    if top is not None and top < len(rows):
        with np.errstate(all="ignore"):
            proba = np.asarray(loaded.model.predict_proba(frame.iloc[rows]))[:, 1]
        rows = [rows[i] for i in np.argsort(-proba, kind="stable")[:top]]
    part = frame.iloc[rows].reset_index(drop=True)
    with np.errstate(all="ignore"):
        explanation = explain(loaded.model, part, background=background)
    reference = (loaded.metadata or {}).get("reference")
    line = model_line(loaded)
    labels = dataset.labels if dataset.has_labels else None
    tasks, entries = [], []
    for k, i in enumerate(rows):
        data = _row_data(dataset, part, k, i, labels)
        if i in named:
            data.subtitle = f"{named[i]}  ·  {data.subtitle}".strip(" ·")
        reasons = Reasons(score=float(explanation.proba[k]), threshold=float(loaded.threshold),
                          model=line)  # fmt: skip
        _fill_reasons(reasons, explanation, k, part.iloc[k].to_dict())
        ident = safe_name(f"{k + 1:04d}_{data.title}")
        tasks.append(_Task("row", ident, (data, reasons, reference)))
        entries.append(
            {
                "id": ident, "star_id": data.title, "signal": None,
                "score": float(explanation.proba[k]), "period": _float(part.iloc[k].get(
                    "orbital_period", part.iloc[k].get("koi_period", np.nan))),
                "snr": _float(part.iloc[k].get("koi_model_snr", part.iloc[k].get("transit_snr"))),
                "depth_ppm": _float(part.iloc[k].get("transit_depth", part.iloc[k].get("koi_depth"))),
                "duration_hours": _float(part.iloc[k].get(
                    "transit_duration", part.iloc[k].get("koi_duration"))),
                "single_transit": False,
                "label": " · ".join(x for x in (named.get(i, ""), data.label) if x),
                "page": f"pages/{ident}.png", "thumb": f"thumbs/{ident}.png",
            }
        )  # fmt: skip
    draw_pages(tasks, folder, n_jobs, progress)
    return write_index(entries, folder, title, subtitle=subtitle, run_id=run_id,
                       artifact_path=artifact_path)  # fmt: skip


def _row_data(dataset, part, k: int, i: int, labels) -> RowData:
    row = part.iloc[k]
    ids = [str(row[c]) for c in dataset.id_columns if c in row.index and str(row[c]) != "nan"]
    title = " / ".join(ids[:2]) or str(dataset.groups[i]) if len(dataset.groups) else f"row {i}"
    label = ""
    if labels is not None:
        value = labels[i]
        label = {1: "planet", 0: "not planet"}.get(int(value), "") if np.isfinite(value) else ""
    data = RowData(title=title, subtitle=f"row {i + 1} of {Path(str(dataset.source)).name}",
                   label=label)  # fmt: skip
    flux = row.get("flux") if "flux" in row.index else None
    if flux is not None and np.size(flux) > 1:
        data.flux = np.asarray(flux, dtype=float)
        time = row.get("time") if "time" in row.index else None
        data.time = None if time is None or np.size(time) != data.flux.size else np.asarray(time)
        for name, key in (("period", "orbital_period"), ("epoch", "transit_epoch")):
            setattr(data, name, _float(row.get(key, np.nan)))
    return data
