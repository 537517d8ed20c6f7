"""End to end, as a new user: `exohunt report` on a fresh store, `exohunt ui` on that store, and
the report's index and pages opened in the real MLflow UI in headless chromium."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.report.webdriver import Browser
from tests.support import descendants, free_port, require_system, run

EXPERIMENT = "reports"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Long enough for a loaded machine; every wait polls and returns as soon as it holds.
WAIT_SECONDS = 30.0

THUMBNAILS_LOADED = """
const images = Array.from(document.querySelectorAll("#candidates-table img"));
return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0)
  ? images.length : 0;
"""
VIEWER_LOADED = """
const viewer = document.getElementById("viewer"), img = viewer.querySelector("img");
return !viewer.hidden && img.complete && img.naturalWidth > 0
  ? {src: img.src, width: img.naturalWidth} : null;
"""
#: The image MLflow's artifact view shows (fetched, then shown from a blob: URL), once loaded.
ARTIFACT_IMAGE = """
const img = Array.from(document.querySelectorAll("img"))
  .find((img) => img.src.startsWith("blob:") && img.complete && img.naturalWidth > 0);
return img ? [img.naturalWidth, img.naturalHeight] : null;
"""


def _get(url: str, timeout: float = 10.0) -> tuple[bytes, str]:
    """The body and Content-Type of ``url``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read(), response.headers.get("Content-Type", "")


def _api(base: str, path: str, body: dict | None = None) -> dict:
    """A call of MLflow's REST API on the UI server (POST when ``body`` is given)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE), f"not a PNG: {data[:16]!r}"
    return struct.unpack(">II", data[16:24])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen, port: int) -> None:
    """Stop `exohunt ui` as systemd would (SIGTERM to its group; it stops the MLflow server's
    own group), then kill whatever is left below it, and wait for the port to be free."""
    below = descendants(process.pid)
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while _listening(port):
        assert time.monotonic() < deadline, f"port {port} still in use after stopping the UI"
        time.sleep(0.1)


@pytest.fixture
def ui(fresh_store, tmp_path):
    """`exohunt ui` on the test's store, on a free port, started at once so that it boots while
    the test works; call it for the UI's base URL once it answers. Stopped, with everything it
    started, after the test, also when the test failed."""
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "wb") as output:  # a file, not a pipe nobody reads: the server never blocks
        process = subprocess.Popen(
            [sys.executable, "-m", "exohunt.cli", "ui", "--port", str(port)]
            + ["--experiment-name", EXPERIMENT],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> str:
        deadline = time.monotonic() + 120  # a safety net for a loaded machine, not a speed test
        while True:
            try:
                if _get(f"{base}/health", timeout=2)[0] == b"OK":
                    return base
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the MLflow UI did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    try:
        yield ready
    finally:
        _stop(process, port)


@pytest.fixture
def browser():
    """Headless chromium through chromedriver (skipped without them, except on CI)."""
    chromium = require_system("chromium")
    chromedriver = require_system("chromedriver")
    with Browser(chromedriver, chromium) as session:
        yield session


def _open_artifact(browser: Browser, url: str) -> None:
    """Load ``url`` afresh (not a hash change within the loaded app)."""
    browser.get("about:blank")
    browser.get(url)


def test_a_report_opens_in_the_mlflow_ui_with_working_links(
    capsys, fresh_store, tmp_path, koi_subset, koi_model, ui, browser
):
    # The user has the UI open (it starts in the background) and makes a report.
    output = tmp_path / "report"
    code, out, err = run(
        capsys, "report", str(koi_subset), "--model", str(koi_model), "--output", str(output),
        "--top", "3", "--experiment-name", EXPERIMENT,
    )  # fmt: skip
    assert code == 0, err
    assert "report: 3 pages" in out
    pages = {p.name: p.read_bytes() for p in sorted((output / "pages").glob("*.png"))}
    assert len(pages) == 3

    # The UI serves the run the report made.
    base = ui()
    experiment = _api(base, f"experiments/get-by-name?{urlencode({'experiment_name': EXPERIMENT})}")
    experiment_id = experiment["experiment"]["experiment_id"]
    runs = _api(base, "runs/search", {"experiment_ids": [experiment_id]}).get("runs", [])
    assert [r["info"]["run_name"] for r in runs] == [f"report-{koi_subset.name}"]
    assert runs[0]["info"]["status"] == "FINISHED"
    run_id = runs[0]["info"]["run_id"]
    artifacts = f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts"

    # The index, in MLflow's artifact view: a sandboxed iframe on a blob: URL.
    _open_artifact(browser, f"{artifacts}/report/index.html")
    frame = browser.wait_for(
        "return document.querySelector('iframe[src^=\"blob:\"]');", timeout=WAIT_SECONDS
    )
    assert browser.run("return arguments[0].getAttribute('sandbox');", frame) == "allow-scripts"
    browser.frame(frame)
    try:
        browser.wait_for("return document.getElementById('count') !== null;", timeout=WAIT_SECONDS)
        assert browser.run("return document.getElementById('count').textContent;") == (
            "3 of 3 candidates"
        )
        assert browser.run("return document.querySelectorAll('tbody tr').length;") == 3
        assert browser.wait_for(THUMBNAILS_LOADED, timeout=WAIT_SECONDS) == 3

        links = browser.run(
            "return Array.from(document.querySelectorAll('tbody td.star_id a')).map((a) => a.href);"
        )
        assert len(links) == 3
        linked = set()
        for href in links:
            assert href.startswith(f"{base}/get-artifact?path=report%2Fpages%2F"), href
            query = parse_qs(urlsplit(href).query)
            assert query["run_uuid"] == [run_id]
            (path,) = query["path"]
            linked.add(path.removeprefix("report/pages/"))
            body, kind = _get(href)  # the link works outside the sandbox too
            assert body == pages[path.removeprefix("report/pages/")], href
            assert kind == "image/png"
        assert linked == set(pages), "each candidate links its own page"

        # A click opens the page in the index's viewer (MLflow's downloads are blocked here).
        browser.find("tbody td.star_id a").click()
        shown = browser.wait_for(VIEWER_LOADED, timeout=WAIT_SECONDS)
        name = parse_qs(urlsplit(shown["src"]).query)["path"][0].removeprefix("report/pages/")
        assert shown["width"] == _png_size(pages[name])[0]
        assert browser.run("return location.protocol;") == "blob:", "the click navigated away"
    finally:
        browser.frame(None)

    # A page, in MLflow's own image view.
    name, data = next(iter(pages.items()))
    _open_artifact(browser, f"{artifacts}/report/pages/{name}")
    size = browser.wait_for(ARTIFACT_IMAGE, timeout=WAIT_SECONDS)
    assert tuple(size) == _png_size(data)
    tree = browser.run("return document.body.innerText;")
    assert all(page in tree for page in pages), "the artifact tree lists every page"
