"""The HTML index of a report: self-contained and escaped, and, in headless chromium, sorting,
filtering, images and links, opened from the file system and inside an MLflow-like sandboxed
``blob:`` iframe."""

from __future__ import annotations

import base64
import html
import re
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from exohunt.errors import DataError
from exohunt.report.index import significant, write_index
from tests.report.webdriver import ESCAPE, Browser
from tests.support import require_system

NAN = float("nan")
EVIL = "EVIL<b>&\"'</script>"
RUN_ID = "0123456789abcdef0123456789abcdef"
ARTIFACT_PATH = "report"

#: star id -> (signal, score, period days, snr, depth ppm, duration hours, single, label, page)
CANDIDATES = {
    "KIC-11442793": (1, 0.912, 14.449, 45.3, 1234.4, 5.678, False, "planet", None),
    "KIC-8462852": (1, NAN, 0.8372, 9.1, 150000.0, 2.1, False, "", None),
    "TIC-25155310": (2, 0.05, NAN, 12.0, 800.0, 8.4, True, "not planet", None),
    EVIL: (1, 0.77, 3.5225, 20.0, 500.0, 3.0, False, "planet", "pages/odd name #&1.png"),
    "KIC-6922244": (1, 0.42, 289.86, 7.5, 300.0, 4.2, False, None, None),
    "KIC-10593626": (3, 0.66, 129.94, NAN, 210.0, 6.5, False, "planet", None),
    "KIC-757450": (1, 0.30, NAN, 15.2, 4100.0, None, True, "not planet", None),
}
#: A candidate drawn without a thumbnail.
NO_THUMB = "KIC-8462852"
BY_SCORE = [
    "KIC-11442793",
    EVIL,
    "KIC-10593626",
    "KIC-6922244",
    "KIC-757450",
    "TIC-25155310",
    "KIC-8462852",
]


def _png(path: Path, width: int, height: int, colour: tuple[int, int, int]) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), colour).save(path)
    return path


def _entries(folder: Path) -> tuple[list[dict], dict[str, int]]:
    """The candidates as write_index entries, their PNGs drawn in ``folder``; and each star's
    page width in pixels (every page has its own, so a loaded image tells which page it is)."""
    entries, widths = [], {}
    for number, (star, values) in enumerate(CANDIDATES.items()):
        signal, score, period, snr, depth, duration, single, label, page = values
        page = page or f"pages/{star}_{signal}.png"
        widths[star] = 300 + 10 * number
        _png(folder / page, widths[star], 200, (40 * number, 120, 200))
        entry = {
            "id": f"{star}/{signal}",
            "star_id": star,
            "signal": signal,
            "score": score,
            "period": period,
            "snr": snr,
            "depth_ppm": depth,
            "single_transit": single,
            "page": page,
        }
        if duration is not None:
            entry["duration_hours"] = duration
        if label is not None:
            entry["label"] = label
        if star != NO_THUMB:
            thumb = f"thumbs/{number}.png"
            _png(folder / thumb, 60, 40, (200, 40 * number, 90))
            entry["thumb"] = thumb
        entries.append(entry)
    return entries, widths


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report folder: pages, thumbnails and the index as logged to MLflow (run and path)."""
    folder = tmp_path_factory.mktemp("report")
    entries, widths = _entries(folder)
    index = write_index(
        entries,
        folder,
        "Candidates of <kepler> & co",
        subtitle="random_forest v3, run abc",
        run_id=RUN_ID,
        artifact_path=ARTIFACT_PATH,
    )
    return index, entries, widths


# -- the file ------------------------------------------------------------------------------------


def test_index_is_self_contained_with_every_value_escaped(tmp_path):
    entries, _ = _entries(tmp_path)
    index = write_index(entries, tmp_path, "Candidates", subtitle="model <x>")
    text = index.read_text(encoding="utf-8")
    assert index == tmp_path / "index.html"
    assert not re.search(r"https?://", text), "the index refers to another host"
    assert "<link" not in text and "url(" not in text and "@import" not in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == len(entries) - 1, "one embedded thumbnail per candidate that has one"
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    first = base64.b64decode(sources[0].split(",", 1)[1])
    assert first == (tmp_path / entries[0]["thumb"]).read_bytes()
    for star in CANDIDATES:
        assert html.escape(star) in text
    assert "<b>" not in text and "<x>" not in text
    assert text.count("</script>") == 2, "a star id closed a script element"
    assert "data-run-id" not in text


def test_index_for_mlflow_names_the_run_and_artifact_folder(report):
    index, _, _ = report
    text = index.read_text(encoding="utf-8")
    assert f'data-run-id="{RUN_ID}"' in text
    assert f'data-artifact-path="{ARTIFACT_PATH}"' in text
    assert not re.search(r"https?://", text)


def test_index_refuses_entries_it_cannot_show(tmp_path):
    entries, _ = _entries(tmp_path)
    with pytest.raises(ValueError, match="'KIC-11442793/1' appears twice"):
        write_index([entries[0], dict(entries[0])], tmp_path, "t")
    with pytest.raises(ValueError, match="entry 0 has no 'id'"):
        write_index([{"star_id": "x"}], tmp_path, "t")
    missing = dict(entries[0], thumb="thumbs/gone.png")
    with pytest.raises(DataError, match=r"thumbnail of candidate 'KIC-11442793/1' at .*gone\.png"):
        write_index([missing], tmp_path, "t")
    outside = dict(entries[0], page="/elsewhere/page.png")
    with pytest.raises(ValueError, match="outside the index folder"):
        write_index([outside], tmp_path, "t")
    with pytest.raises(ValueError, match="both run_id and artifact_path"):
        write_index(entries, tmp_path, "t", run_id=RUN_ID)


@pytest.mark.parametrize(
    "value, text",
    [(14.6, "14.60"), (0.51234, "0.5123"), (289.86, "289.9"), (1000.0, "1000"), (12345.6, "12346")],
)
def test_periods_show_four_significant_digits(value, text):
    assert significant(value) == text


# -- in chromium ---------------------------------------------------------------------------------

VISIBLE_STARS = """
return Array.from(document.querySelectorAll("#candidates-table tbody tr"))
  .filter((tr) => tr.getClientRects().length > 0)
  .map((tr) => tr.querySelector("td.star_id").textContent);
"""
COUNT = 'return document.getElementById("count").textContent;'
IMAGES_LOADED = """
const images = Array.from(document.querySelectorAll("#candidates-table img"));
return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0)
  ? images.length : 0;
"""
VIEWER_LOADED = """
const viewer = document.getElementById("viewer"), img = viewer.querySelector("img");
return !viewer.hidden && img.complete && img.naturalWidth > 0;
"""
VIEWER = """
const viewer = document.getElementById("viewer"), img = viewer.querySelector("img");
return {shown: !viewer.hidden, src: img.src, width: img.complete ? img.naturalWidth : 0,
        caption: viewer.querySelector("figcaption").textContent};
"""


@pytest.fixture(scope="module")
def browser():
    """Headless chromium driven through chromedriver; stopped after the module's tests."""
    chromium = require_system("chromium")
    chromedriver = require_system("chromedriver")
    with Browser(chromedriver, chromium) as session:
        yield session


@pytest.fixture
def page(browser, report):
    """The report's index opened from the file system, as a user double-clicking it."""
    index, _, _ = report
    browser.get(index.as_uri())
    browser.wait_for('return document.readyState === "complete";')
    return browser


def _link(browser, star: str, cell: str):
    """The link in the ``cell`` ("thumb" or "star_id") of the row of ``star``."""
    return browser.run(
        """
        const tr = Array.from(document.querySelectorAll("#candidates-table tbody tr"))
          .find((tr) => tr.querySelector("td.star_id").textContent === arguments[0]);
        return tr.querySelector("td." + arguments[1] + " a");
        """,
        star,
        cell,
    )


def _row_of(browser, star: str) -> list[str]:
    return browser.run(
        """
        const tr = Array.from(document.querySelectorAll("#candidates-table tbody tr"))
          .find((tr) => tr.querySelector("td.star_id").textContent === arguments[0]);
        return Array.from(tr.cells).slice(1).map((td) => td.textContent);
        """,
        star,
    )


def test_page_shows_the_title_every_candidate_and_formatted_values(page):
    assert page.title == "Candidates of <kepler> & co"
    heading = page.run("return document.querySelector('h1').textContent;")
    assert heading == "Candidates of <kepler> & co"
    assert page.run("return document.querySelector('.subtitle').textContent;").startswith(
        "random_forest v3"
    )
    assert page.run(VISIBLE_STARS) == BY_SCORE
    assert page.run(COUNT) == "7 of 7 candidates"
    assert page.run("return document.querySelectorAll('#candidates-table b').length;") == 0
    header = page.run(
        "return Array.from(document.querySelectorAll('thead th')).map((th) => th.textContent);"
    )
    assert header[1:] == [
        *("Star", "Signal", "Score", "Period (d)", "SNR", "Depth (ppm)"),
        *("Duration (h)", "Single transit", "Label"),
    ]
    values = ["1", "0.912", "14.45", "45.3", "1,234", "5.68", "no", "planet"]
    assert _row_of(page, "KIC-11442793") == ["KIC-11442793", *values]
    values = ["1", "0.300", "–", "15.2", "4,100", "–", "yes", "not planet"]
    assert _row_of(page, "KIC-757450") == ["KIC-757450", *values]
    values = ["1", "–", "0.8372", "9.1", "150,000", "2.10", "no", "–"]
    assert _row_of(page, "KIC-8462852") == ["KIC-8462852", *values]
    assert _row_of(page, "KIC-10593626")[4] == "–"  # NaN SNR


def _sort_by(browser, key: str) -> str:
    """Click a column header; the column's aria-sort afterwards."""
    browser.find(f'th[data-key="{key}"] button').click()
    return browser.run(f"return document.querySelector('th[data-key=\"{key}\"]').ariaSort;")


def test_headers_sort_numbers_and_names_with_missing_values_last(page):
    score_sort = "return document.querySelector('th[data-key=\"score\"]').ariaSort;"
    assert page.run(score_sort) == "descending"
    by_period = [EVIL, "KIC-11442793", "KIC-10593626", "KIC-6922244"]
    assert _sort_by(page, "period") == "ascending"
    assert page.run(VISIBLE_STARS) == ["KIC-8462852", *by_period, "KIC-757450", "TIC-25155310"]
    assert page.run(score_sort) == "none"
    assert _sort_by(page, "period") == "descending"
    expected = [*reversed(by_period), "KIC-8462852", "KIC-757450", "TIC-25155310"]
    assert page.run(VISIBLE_STARS) == expected
    assert _sort_by(page, "star_id") == "ascending"
    assert page.run(VISIBLE_STARS) == [  # natural order: 757450 < 6922244 < 10593626
        *(EVIL, "KIC-757450", "KIC-6922244", "KIC-8462852"),
        *("KIC-10593626", "KIC-11442793", "TIC-25155310"),
    ]
    assert _sort_by(page, "score") == "ascending"
    assert page.run(VISIBLE_STARS) == [*reversed(BY_SCORE[:-1]), "KIC-8462852"]


def test_filters_hide_the_right_rows_and_count_them(page):
    page.find("#min-score").type("0.5")
    assert page.run(VISIBLE_STARS) == ["KIC-11442793", EVIL, "KIC-10593626"]
    assert page.run(COUNT) == "3 of 7 candidates"
    page.find("#min-score").clear()
    assert page.run(COUNT) == "7 of 7 candidates"

    page.find('#single option[value="only"]').click()
    assert page.run(VISIBLE_STARS) == ["KIC-757450", "TIC-25155310"]
    assert page.run(COUNT) == "2 of 7 candidates"
    page.find('#single option[value="exclude"]').click()
    assert page.run(VISIBLE_STARS) == [
        s for s in BY_SCORE if s not in ("KIC-757450", "TIC-25155310")
    ]
    assert page.run(COUNT) == "5 of 7 candidates"
    page.find('#single option[value="all"]').click()

    page.find("#min-period").type("1")
    page.find("#max-period").type("200")
    assert page.run(VISIBLE_STARS) == ["KIC-11442793", EVIL, "KIC-10593626"]
    page.find("#min-snr").type("15")
    assert page.run(VISIBLE_STARS) == ["KIC-11442793", EVIL]
    assert page.run(COUNT) == "2 of 7 candidates"
    page.find('button[type="reset"]').click()
    page.wait_for("return document.getElementById('count').textContent === '7 of 7 candidates';")


def test_every_thumbnail_loads(page):
    assert page.wait_for(IMAGES_LOADED) == len(CANDIDATES) - 1
    cell = _row_of(page, NO_THUMB)
    assert cell[0] == NO_THUMB  # the star still links to its page
    thumb = page.run(
        "return Array.from(document.querySelectorAll('tbody tr'))"
        ".find((tr) => tr.querySelector('td.star_id').textContent === arguments[0])"
        ".cells[0].textContent;",
        NO_THUMB,
    )
    assert thumb == "–"


def test_star_links_resolve_to_their_page_files(page, report):
    index, entries, _ = report
    links = page.run(
        "return Array.from(document.querySelectorAll('tbody td.star_id a'))"
        ".map((a) => [a.textContent, a.href]);"
    )
    pages = {e["star_id"]: index.parent / e["page"] for e in entries}
    assert len(links) == len(entries)
    for star, href in links:
        assert href.startswith("file://")
        assert Path(unquote(urlsplit(href).path)) == pages[star]
        assert pages[star].is_file()
    _link(page, "KIC-11442793", "star_id").click()
    page.wait_for("return document.readyState === 'complete';")
    assert page.url == pages["KIC-11442793"].as_uri()
    size = "return [document.images[0].naturalWidth, document.images[0].naturalHeight];"
    assert page.run(size) == [300, 200]


def test_a_thumbnail_opens_its_page_in_the_viewer(page, report):
    index, _, widths = report
    _link(page, "KIC-10593626", "thumb").click()
    page.wait_for(VIEWER_LOADED)
    shown = page.run(VIEWER)
    assert shown["shown"] and shown["width"] == widths["KIC-10593626"]
    assert shown["caption"] == "KIC-10593626 signal 3"
    assert page.url == index.as_uri(), "the viewer opened in the page, not a navigation"
    page.press(ESCAPE)
    assert page.run(VIEWER)["shown"] is False
    _link(page, EVIL, "thumb").click()
    page.wait_for(VIEWER_LOADED)
    assert page.run(VIEWER)["width"] == widths[EVIL]
    page.find("#viewer").click()
    assert page.run(VIEWER)["shown"] is False


# -- in an MLflow-like artifact viewer -------------------------------------------------------------

#: What MLflow 3's artifact view does with an HTML artifact: fetch it, and show it from a blob:
#: URL in an iframe sandboxed to scripts only (an opaque origin; no popups, no downloads).
VIEWER_PAGE = """<!DOCTYPE html><html><head><title>artifact view</title></head><body>
<iframe id="artifact" sandbox="allow-scripts" style="width:1200px;height:800px"></iframe>
<script>
fetch("/get-artifact?path=" + encodeURIComponent("PATH/index.html") + "&run_uuid=RUN")
  .then((response) => response.text())
  .then((text) => {
    const blob = new Blob([text], {type: "text/html"});
    document.getElementById("artifact").src = URL.createObjectURL(blob);
  });
</script></body></html>"""


@pytest.fixture
def mlflow_like(report):
    """A local server like MLflow's: the viewer page at ``/``, the run's artifacts (the report
    folder under ARTIFACT_PATH) at ``/get-artifact``, sent as downloads as MLflow sends them.
    Yields (its base URL, the artifact paths asked for)."""
    index, _, _ = report
    folder = index.parent
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server name)
            url = urlsplit(self.path)
            if url.path == "/":
                body = VIEWER_PAGE.replace("PATH", ARTIFACT_PATH).replace("RUN", RUN_ID)
                return self._send(body.encode(), "text/html; charset=utf-8")
            query = parse_qs(url.query)
            path = query.get("path", [""])[0]
            asked.append(path)
            file = folder / path.removeprefix(f"{ARTIFACT_PATH}/")
            if url.path != "/get-artifact" or query.get("run_uuid") != [RUN_ID]:
                return self.send_error(404)
            if not path.startswith(f"{ARTIFACT_PATH}/") or not file.is_file():
                return self.send_error(404)
            kind = "text/html; charset=utf-8" if file.suffix == ".html" else "image/png"
            self._send(file.read_bytes(), kind, attachment=file.name)

        def _send(self, body: bytes, kind: str, attachment: str | None = None):
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "SAMEORIGIN")
            if attachment:
                self.send_header("Content-Disposition", f'attachment; filename="{attachment}"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_in_the_mlflow_viewer_links_point_at_the_run_artifacts(browser, report, mlflow_like):
    index, entries, widths = report
    base, asked = mlflow_like
    browser.get(base + "/")
    browser.wait_for("return (document.getElementById('artifact').src || '').startsWith('blob:');")
    browser.frame(browser.find("#artifact"))
    try:
        browser.wait_for("return document.getElementById('count') !== null;")
        assert browser.run("return location.protocol;") == "blob:"
        assert browser.run(COUNT) == "7 of 7 candidates"
        assert browser.wait_for(IMAGES_LOADED) == len(CANDIDATES) - 1

        links = browser.run(
            "return Array.from(document.querySelectorAll('tbody a'))"
            ".map((a) => [a.closest('tr').dataset.id, a.href, a.target]);"
        )
        pages = {e["id"]: e["page"] for e in entries}
        assert len(links) == 2 * len(entries) - 1  # star and thumbnail; one has no thumbnail
        for entry_id, href, target in links:
            url = urlsplit(href)
            assert f"{url.scheme}://{url.netloc}{url.path}" == f"{base}/get-artifact"
            query = parse_qs(url.query)
            assert query == {"path": [f"{ARTIFACT_PATH}/{pages[entry_id]}"], "run_uuid": [RUN_ID]}
            assert target == "", "a popup is blocked in the sandbox"
        evil_href = next(href for i, href, _ in links if i == f"{EVIL}/1")
        assert "odd%20name%20%23%261.png" in evil_href
        with urllib.request.urlopen(evil_href, timeout=10) as response:
            assert response.read() == (index.parent / pages[f"{EVIL}/1"]).read_bytes()

        # MLflow sends artifacts as downloads, which the sandbox blocks: a link opens the viewer.
        _link(browser, EVIL, "star_id").click()
        browser.wait_for(VIEWER_LOADED)
        shown = browser.run(VIEWER)
        assert shown["width"] == widths[EVIL] and shown["src"] == evil_href
        assert shown["caption"] == f"{EVIL} signal 1"
        assert browser.run("return location.protocol;") == "blob:"
        assert f"{ARTIFACT_PATH}/{pages[f'{EVIL}/1']}" in asked
    finally:
        browser.frame(None)


def test_a_scans_system_score_is_a_column_and_the_first_order(browser, tmp_path):
    """A scan's index ranks by the system score (the multiplicity boost) as candidates.csv
    does: a candidate of a two-planet system above a lone one the model scored higher."""
    entries, _ = _entries(tmp_path)
    boosted = {"KIC-10593626": 0.98, "KIC-6922244": 0.95}  # 0.66 and 0.42 on their own
    for entry in entries:
        entry["system_score"] = boosted.get(entry["star_id"], entry["score"])
    index = write_index(entries, tmp_path, "Scan")
    browser.get(index.as_uri())
    browser.wait_for('return document.readyState === "complete";')
    header = browser.run(
        "return Array.from(document.querySelectorAll('thead th')).map((th) => th.textContent);"
    )
    assert header[3:5] == ["Score", "System score"]
    assert browser.run(VISIBLE_STARS)[:3] == ["KIC-10593626", "KIC-6922244", "KIC-11442793"]
    sort = "return document.querySelector('th[data-key=\"system_score\"]').ariaSort;"
    assert browser.run(sort) == "descending"
    assert _row_of(browser, "KIC-6922244")[2:4] == ["0.420", "0.950"]
    assert _sort_by(browser, "score") == "ascending"  # the model's own score still sorts
    assert browser.run(VISIBLE_STARS)[-2:] == ["KIC-11442793", "KIC-8462852"]
