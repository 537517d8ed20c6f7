"""A tiny W3C WebDriver client over urllib, driving headless Debian chromium through chromedriver.

Just what the report tests need: navigate, run a script, find and click elements, type, switch
frames. No Python package beyond the standard library; ``chromedriver`` (Debian chromium-driver)
does the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from tests.support import descendants, free_port

#: The WebDriver code of the Escape key.
ESCAPE = "\ue00c"
#: The key under which W3C WebDriver returns an element reference.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]


class WebDriverError(RuntimeError):
    """An error answer from chromedriver (its ``error`` and ``message``)."""


class Element:
    """A reference to an element of the current browsing context."""

    def __init__(self, browser: Browser, reference: str):
        self.browser, self.reference = browser, reference

    def click(self) -> None:
        self.browser.command("POST", f"/element/{self.reference}/click", {})

    def type(self, text: str) -> None:
        """Send key strokes to the element, as a user typing (fires input events)."""
        self.browser.command("POST", f"/element/{self.reference}/value", {"text": text})

    def clear(self) -> None:
        self.browser.command("POST", f"/element/{self.reference}/clear", {})

    def as_argument(self) -> dict:
        return {ELEMENT: self.reference}


class Browser:
    """One chromedriver process and one headless chromium session with a temporary profile.

    Use as a context manager: leaving it ends the session, stops chromedriver and anything left
    below it, and removes the profile, also when the test failed.
    """

    def __init__(self, chromedriver: str, chromium: str, timeout: float = 30.0):
        self.chromedriver, self.chromium, self.timeout = chromedriver, chromium, timeout
        self.process: subprocess.Popen | None = None
        self.session: str | None = None
        self.profile = tempfile.mkdtemp(prefix="exohunt-chromium-")

    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [self.chromedriver, f"--port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if self._request("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromedriver did not start on port {port}")
            time.sleep(0.05)
        options = {
            "binary": self.chromium,
            "args": [*CHROMIUM_ARGS, f"--user-data-dir={self.profile}"],
        }
        capabilities = {"alwaysMatch": {"goog:chromeOptions": options}}
        answer = self._request("POST", "/session", {"capabilities": capabilities})
        self.session = answer["value"]["sessionId"]

    def close(self) -> None:
        if self.session is not None:
            try:
                self._request("DELETE", f"/session/{self.session}")
            except (OSError, WebDriverError):
                pass
            self.session = None
        if self.process is not None:
            left = descendants(self.process.pid)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            for pid in left:  # a chromium that outlived its session
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process = None
        shutil.rmtree(self.profile, ignore_errors=True)

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            value = json.loads(exc.read() or b"{}").get("value", {})
            raise WebDriverError(
                f"{method} {path}: {value.get('error')}: {value.get('message')}"
            ) from exc

    def command(self, method: str, path: str, body: dict | None = None):
        """A command of the session (``path`` below ``/session/{id}``); its ``value``."""
        return self._request(method, f"/session/{self.session}{path}", body)["value"]

    def get(self, url: str) -> None:
        """Navigate to ``url`` and wait for it to load."""
        self.command("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return self.command("GET", "/url")

    @property
    def title(self) -> str:
        return self.command("GET", "/title")

    def run(self, script: str, *args):
        """The value of ``script`` (a function body: ``return ...``) run in the page; an element
        it returns comes back as an :class:`Element`."""
        args = [a.as_argument() if isinstance(a, Element) else a for a in args]
        value = self.command("POST", "/execute/sync", {"script": script, "args": args})
        if isinstance(value, dict) and set(value) == {ELEMENT}:
            return Element(self, value[ELEMENT])
        return value

    def find(self, css: str) -> Element:
        found = self.command("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, found[ELEMENT])

    def press(self, key: str) -> None:
        """Press and release ``key`` (a WebDriver key code, e.g. ``ESCAPE``) on the page."""
        strokes = [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
        self.command(
            "POST", "/actions", {"actions": [{"type": "key", "id": "keys", "actions": strokes}]}
        )

    def frame(self, element: Element | None) -> None:
        """Switch into the iframe ``element``, or back to the top page with None."""
        target = None if element is None else element.as_argument()
        self.command("POST", "/frame", {"id": target})

    def wait_for(self, script: str, timeout: float = 10.0):
        """Run ``script`` until it returns something truthy; that value (fails after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for: {script}")
            time.sleep(0.05)
