"""The HTML index of a report: one self-contained page that lists every candidate.

The page needs no network and no other file to show the table: CSS, script and the thumbnails
(``data:`` URIs) are inside it. The full-size candidate pages are linked, by paths relative to the
index, so the folder can be moved or zipped whole.

It also works in the MLflow UI, which shows an HTML artifact in ``<iframe sandbox="allow-scripts">``
on a ``blob:`` URL. Relative links do not resolve there, and MLflow serves artifacts as downloads,
which the sandbox blocks. Given the run and the artifact folder, the script turns each link into
the server's ``/get-artifact`` URL and opens the page in the overlay viewer (an image, which the
sandbox does allow) instead of following the link.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import struct
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from exohunt._version import __version__
from exohunt.errors import DataError

log = logging.getLogger(__name__)

#: What a cell shows for a missing value.
MISSING = "–"
#: Height of a thumbnail in the table, in CSS pixels.
THUMB_HEIGHT = 275
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _number(value) -> float | None:
    """``value`` as a finite float, or None (missing, NaN, infinite, not a number)."""
    if value is None or isinstance(value, str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _flag(value) -> bool | None:
    """``value`` as a bool, or None when missing, NaN or undecidable (pandas' NA)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return bool(value)
    except (TypeError, ValueError):
        return None


def _text(value) -> str:
    """``value`` as a string; "" when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def significant(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, trailing zeros kept, never in exponent form
    (``14.6`` -> ``"14.60"``, ``0.51234`` -> ``"0.5123"``, ``12345`` -> ``"12345"``)."""
    text = f"{value:#.{digits}g}"
    if "e" in text:
        return f"{value:.0f}"
    return text.rstrip(".")


def _formatted(format_value: Callable[[float], str]) -> Callable[[object], str]:
    def cell(value) -> str:
        number = _number(value)
        return MISSING if number is None else format_value(number)

    return cell


def _yes_no(value) -> str:
    flag = _flag(value)
    return MISSING if flag is None else ("yes" if flag else "no")


_signal = _formatted(lambda v: f"{v:.0f}")

#: The table's columns after the thumbnail: (entry key, header, cell text, numeric sort).
COLUMNS: tuple[tuple[str, str, Callable[[object], str], bool], ...] = (
    ("star_id", "Star", lambda v: _text(v) or MISSING, False),
    ("signal", "Signal", _signal, True),
    ("score", "Score", _formatted(lambda v: f"{v:.3f}"), True),
    ("system_score", "System score", _formatted(lambda v: f"{v:.3f}"), True),
    ("period", "Period (d)", _formatted(significant), True),
    ("snr", "SNR", _formatted(lambda v: f"{v:.1f}"), True),
    ("depth_ppm", "Depth (ppm)", _formatted(lambda v: f"{v:,.0f}"), True),
    ("duration_hours", "Duration (h)", _formatted(lambda v: f"{v:.2f}"), True),
    ("single_transit", "Single transit", _yes_no, True),
    ("label", "Label", lambda v: _text(v) or MISSING, False),
)


def _relative(value, folder: Path, what: str, entry_id: str) -> str | None:
    """A page or thumbnail path as a POSIX path relative to ``folder`` (None when missing).

    Raises ValueError for an absolute path outside ``folder``: the index could not link it.
    """
    text = _text(value)
    if not text:
        return None
    path = Path(text)
    if path.is_absolute():
        try:
            path = path.relative_to(folder.absolute())
        except ValueError:
            raise ValueError(
                f"the {what} of candidate {entry_id!r} is {text}, outside the index folder "
                f"{folder}; give it relative to that folder"
            ) from None
    return PurePosixPath(path.as_posix()).as_posix()


def _thumbnail(path: Path, entry_id: str) -> tuple[str, int, int]:
    """A PNG file as a ``data:`` URI, with its width and height in pixels.

    Raises DataError if the file cannot be read or is not a PNG.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"cannot read the thumbnail of candidate {entry_id!r} at {path}: {exc.strerror} "
            "(draw the candidate pages again, or leave 'thumb' out of the entry)"
        ) from exc
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 24:
        raise DataError(f"the thumbnail of candidate {entry_id!r} at {path} is not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), width, height


def ranking_score(entry: dict) -> float | None:
    """What candidates are ordered by: a scan's system score, else the score; None for neither."""
    score = _number(entry.get("system_score"))
    return score if score is not None else _number(entry.get("score"))


def _best_first(entry: dict) -> tuple[bool, float]:
    score = ranking_score(entry)
    return (score is None, -score if score is not None else 0.0)


def _script_json(value) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>``, ``<!--`` or ``&`` in the text."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _row(entry: dict, folder: Path, thumbs: dict, columns=COLUMNS) -> tuple[str, dict]:
    """One table row's HTML, and its values for the script (sorting, filtering, links)."""
    entry_id = str(entry["id"])
    page = _relative(entry.get("page"), folder, "page", entry_id)
    thumb = _relative(entry.get("thumb"), folder, "thumbnail", entry_id)
    star = _text(entry.get("star_id"))
    href = html.escape(quote(page)) if page is not None else None

    cell = MISSING
    if thumb is not None:
        if thumb not in thumbs:
            thumbs[thumb] = _thumbnail(folder / thumb, entry_id)
        uri, width, height = thumbs[thumb]
        alt = html.escape(f"{star or 'candidate'} signal {_signal(entry.get('signal'))}")
        cell = f'<img src="{uri}" alt="{alt}" width="{width}" height="{height}">'
        if href is not None:
            cell = f'<a class="view" href="{href}" title="view the page">{cell}</a>'
    cells = [f'<td class="thumb">{cell}</td>']
    for key, _, show, numeric in columns:
        text = html.escape(show(entry.get(key)))
        if key == "star_id" and href is not None:
            text = f'<a class="page" href="{href}">{text}</a>'
        cells.append(f'<td class="{"num" if numeric else key}">{text}</td>')
    tr = f'<tr data-id="{html.escape(entry_id)}">{"".join(cells)}</tr>'

    values = {key: _number(entry.get(key)) for key, _, _, numeric in columns if numeric}
    values["single_transit"] = _flag(entry.get("single_transit"))
    values.update(star_id=star, label=_text(entry.get("label")), page=page)
    return tr, values


def write_index(
    entries: list[dict],
    folder: Path,
    title: str,
    *,
    subtitle: str = "",
    run_id: str | None = None,
    artifact_path: str | None = None,
) -> Path:
    """Write folder/index.html and return its path.

    Parameters
    ----------
    entries
        One dict per candidate: ``id`` (unique), ``star_id``, ``signal``, ``score`` (NaN: not
        scored), ``period`` (days; NaN for a single transit), ``snr``, ``depth_ppm``,
        ``duration_hours``, ``single_transit``, ``label`` and the PNG files ``page`` (the full
        page, linked) and ``thumb`` (embedded), both relative to ``folder``. Any value but ``id``
        may be missing or NaN; the table shows "–".
    folder
        Where index.html goes (created if needed).
    title, subtitle
        The heading, and the line under it (the model and run, say).
    run_id, artifact_path
        The MLflow run and the artifact folder index.html is logged to, both or neither. Given,
        the page links to the run's artifacts when shown in the MLflow UI.

    Raises
    ------
    ValueError
        If an entry has no ``id``, two share one, only one of ``run_id`` and ``artifact_path``
        is given, or a page lies outside ``folder``.
    DataError
        If a thumbnail cannot be read or is not a PNG.
    """
    folder = Path(folder)
    if (run_id is None) != (artifact_path is None):
        raise ValueError(
            f"give both run_id and artifact_path, or neither (run_id={run_id!r}, "
            f"artifact_path={artifact_path!r})"
        )
    seen: set[str] = set()
    for number, entry in enumerate(entries):
        if "id" not in entry:
            raise ValueError(f"candidate entry {number} has no 'id'; keys are: {sorted(entry)}")
        if str(entry["id"]) in seen:
            raise ValueError(f"candidate id {str(entry['id'])!r} appears twice; ids must be unique")
        seen.add(str(entry["id"]))

    # a system score (a scan's multiplicity boost) only where some candidate has one
    columns = COLUMNS
    if not any(_number(e.get("system_score")) is not None for e in entries):
        columns = tuple(c for c in COLUMNS if c[0] != "system_score")
    thumbs: dict[str, tuple[str, int, int]] = {}
    rows = [_row(entry, folder, thumbs, columns) for entry in sorted(entries, key=_best_first)]
    body_data = ""
    if run_id is not None:
        body_data = (
            f' data-run-id="{html.escape(str(run_id))}"'
            f' data-artifact-path="{html.escape(str(artifact_path).strip("/"))}"'
        )
    page = _PAGE.format(
        title=html.escape(title),
        subtitle=f'<p class="subtitle">{html.escape(subtitle)}</p>' if subtitle else "",
        body_data=body_data,
        css=_CSS.replace("THUMB_HEIGHT", str(THUMB_HEIGHT)),
        script=_SCRIPT,
        headers="".join(
            f'<th data-key="{key}" aria-sort="none"><button type="button">{html.escape(header)}'
            '<span class="arrow"></span></button></th>'
            for key, header, _, _ in columns
        ),
        rows="\n".join(tr for tr, _ in rows),
        data=_script_json([values for _, values in rows]),
        total=len(rows),
        version=html.escape(__version__),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    partial = folder / ".index.html.partial"
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, path)
    log.debug("wrote the index of %d candidates to %s", len(rows), path)
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body{body_data}>
<header><h1>{title}</h1>{subtitle}</header>
<form id="filters" onsubmit="return false">
<label>Score &ge; <input id="min-score" type="number" step="any" min="0" max="1"></label>
<label>Period <input id="min-period" type="number" step="any" min="0" placeholder="min">
&ndash; <input id="max-period" type="number" step="any" min="0" placeholder="max"> d</label>
<label>SNR &ge; <input id="min-snr" type="number" step="any" min="0"></label>
<label>Single transits <select id="single">
<option value="all">all</option><option value="only">only single</option>
<option value="exclude">exclude single</option></select></label>
<button type="reset">Reset</button>
<output id="count">{total} of {total} candidates</output>
</form>
<p class="hint">Click a header to sort, a thumbnail to view the page. A filter that is set hides
candidates without that value.</p>
<table id="candidates-table">
<thead><tr><th></th>{headers}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
<div id="viewer" hidden><figure><img alt=""><figcaption></figcaption></figure></div>
<footer>Made by exohunt {version}.</footer>
<script id="candidates" type="application/json">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
  margin: 0 auto; padding: 1rem 1.5rem; max-width: 1200px; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; }
.subtitle { color: #5b6478; margin: 0; }
#filters { display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; align-items: center;
  margin: 1rem 0 .3rem; padding: .6rem .8rem; background: #f3f5f9; border-radius: 6px; }
#filters input { width: 5.5em; }
#count { margin-left: auto; font-weight: 600; }
.hint, footer { color: #7a8296; font-size: 12px; margin: .2rem 0 .6rem; }
table { border-collapse: collapse; width: 100%; }
th { position: sticky; top: 0; background: #fff; border-bottom: 2px solid #cdd3df;
  text-align: left; z-index: 1; }
th button { font: inherit; font-weight: 600; border: 0; background: none; padding: .4rem .3rem;
  cursor: pointer; color: inherit; white-space: nowrap; }
th[aria-sort="ascending"] .arrow::after { content: " \\25B2"; }
th[aria-sort="descending"] .arrow::after { content: " \\25BC"; }
td { padding: .2rem .3rem; border-bottom: 1px solid #e6e9f0; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.thumb img { height: THUMB_HEIGHTpx; width: auto; display: block; }
tbody tr:hover { background: #f7f9fc; }
a { color: #1f5fbf; }
[hidden] { display: none !important; }
#viewer { position: fixed; inset: 0; background: rgba(10, 14, 22, .85); z-index: 2;
  display: flex; align-items: center; justify-content: center; cursor: zoom-out; }
#viewer figure { margin: 0; text-align: center; color: #fff; }
#viewer img { max-width: 96vw; max-height: 90vh; background: #fff; }
"""

_SCRIPT = """
"use strict";
(() => {
  const rows = JSON.parse(document.getElementById("candidates").textContent);
  const tbody = document.querySelector("#candidates-table tbody");
  const rowOf = new Map();
  Array.from(tbody.rows).forEach((tr, i) => {
    Object.assign(rows[i], { tr: tr, index: i });
    rowOf.set(tr, rows[i]);
  });
  const $ = (id) => document.getElementById(id);

  // In MLflow's artifact viewer (a sandboxed iframe on a blob: URL) relative links do not
  // resolve: point them at the server's artifact endpoint, and show pages in the viewer.
  const runId = document.body.dataset.runId, folder = document.body.dataset.artifactPath;
  const inMlflow = location.protocol === "blob:" && runId !== undefined;
  if (inMlflow) {
    const origin = new URL(location.href.slice(5)).origin;
    for (const row of rows) {
      if (!row.page) continue;
      const path = folder ? folder + "/" + row.page : row.page;
      const url = origin + "/get-artifact?path=" + encodeURIComponent(path) +
        "&run_uuid=" + encodeURIComponent(runId);
      for (const a of row.tr.querySelectorAll("a")) a.href = url;
    }
  }

  const viewer = $("viewer"), image = viewer.querySelector("img");
  const caption = viewer.querySelector("figcaption");
  tbody.addEventListener("click", (event) => {
    const a = event.target.closest("a");
    if (!a || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (!inMlflow && !a.classList.contains("view")) return;
    event.preventDefault();
    const row = rowOf.get(a.closest("tr"));
    image.src = a.href;
    caption.textContent = row.star_id + (row.signal === null ? "" : " signal " + row.signal);
    viewer.hidden = false;
  });
  const close = () => { viewer.hidden = true; image.removeAttribute("src"); };
  viewer.addEventListener("click", close);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });

  // Sorting: numbers numerically, text naturally; missing values last in either direction.
  const numeric = new Set(["signal", "score", "system_score", "period", "snr", "depth_ppm",
    "duration_hours", "single_transit"]);
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  const headers = document.querySelectorAll("th[data-key]");
  const missing = (v) => v === null || v === undefined || v === "";
  let key = rows.some((row) => !missing(row.system_score)) ? "system_score" : "score";
  let descending = true;
  function sort() {
    const order = rows.slice().sort((a, b) => {
      const x = a[key], y = b[key];
      if (missing(x) || missing(y)) return missing(x) - missing(y) || a.index - b.index;
      const c = numeric.has(key) ? x - y : collator.compare(x, y);
      return (descending ? -c : c) || a.index - b.index;
    });
    const fragment = document.createDocumentFragment();
    for (const row of order) fragment.appendChild(row.tr);
    tbody.appendChild(fragment);
    for (const th of headers) {
      th.setAttribute("aria-sort", th.dataset.key !== key ? "none" :
        descending ? "descending" : "ascending");
    }
  }
  for (const th of headers) {
    th.querySelector("button").addEventListener("click", () => {
      if (th.dataset.key === key) descending = !descending;
      else { key = th.dataset.key; descending = false; }
      sort();
    });
  }

  // Filters: a filter that is set keeps only candidates whose value passes it.
  const number = (id) => { const v = $(id).value; return v === "" ? null : Number(v); };
  function filter() {
    const minScore = number("min-score"), minSnr = number("min-snr");
    const minPeriod = number("min-period"), maxPeriod = number("max-period");
    const single = $("single").value;
    const atLeast = (v, min) => min === null || (v !== null && v >= min);
    let shown = 0;
    for (const row of rows) {
      const keep = atLeast(row.score, minScore) && atLeast(row.snr, minSnr) &&
        atLeast(row.period, minPeriod) &&
        (maxPeriod === null || (row.period !== null && row.period <= maxPeriod)) &&
        (single === "all" || (single === "only") === (row.single_transit === true));
      row.tr.hidden = !keep;
      shown += keep;
    }
    $("count").textContent = shown + " of " + rows.length + " candidates";
  }
  const form = $("filters");
  form.addEventListener("input", filter);
  form.addEventListener("change", filter);
  form.addEventListener("reset", () => setTimeout(filter));
  sort();
  filter();
})();
"""
