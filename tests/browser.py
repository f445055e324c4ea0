"""A real headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol.

No WebDriver: the tests talk CDP to the page's websocket themselves (`websockets`' sync
client), which needs nothing besides the browser and has no driver version to match.
`Chromium` is a tests/services.py Service: started on a free port in its own temp profile,
stopped with its whole process group. `Tab` is one page: navigate, evaluate JavaScript to
read the DOM, click and wait for the next page load, take screenshots.

Flags: --no-sandbox because CI runs as root (Chromium's sandbox refuses root),
--disable-dev-shm-usage because containers often have a small /dev/shm.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.services import Service, find_binary, free_port

TIMEOUT_S = 15.0


class CdpError(RuntimeError):
    """The browser answered a command with an error, or a page's script threw."""


class Chromium(Service):
    name = "chromium"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port = free_port()

    def command(self) -> Sequence[str]:
        return [find_binary("chromium", "chromium"), "--headless", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--mute-audio", "--hide-scrollbars", "--remote-debugging-address=127.0.0.1",
                f"--remote-debugging-port={self.port}",
                f"--user-data-dir={self.workdir / 'profile'}", "about:blank"]

    def _http(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def is_ready(self) -> bool:
        try:
            self._http("/json/version")
            return True
        except OSError:
            return False

    def version(self) -> str:
        return str(self._http("/json/version")["Browser"])

    def new_tab(self) -> Tab:
        target = self._http("/json/new?about:blank", method="PUT")
        return Tab(self, target["id"], target["webSocketDebuggerUrl"])

    def close_tab(self, target_id: str) -> None:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/json/close/{target_id}", timeout=5).close()

    def stop(self, *, graceful: bool = True) -> None:
        # The renderers and helpers are in the browser's process group (its own session):
        # end that group, not only the browser.
        pid = self.pid
        super().stop(graceful=graceful)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


class Tab:
    def __init__(self, browser: Chromium, target_id: str, ws_url: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self._ws: ClientConnection = connect(ws_url, max_size=64 * 1024 * 1024,
                                             open_timeout=TIMEOUT_S)
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.call("Page.enable")
        self.call("Runtime.enable")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        self.browser.close_tab(self.target_id)

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from the browser in time")
        return dict(json.loads(self._ws.recv(timeout=remaining)))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a CDP command and return its result; events seen meanwhile are kept."""
        self._next_id += 1
        my_id = self._next_id
        self._ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            msg = self._receive(deadline)
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            if "method" in msg:
                self._events.append(msg)

    def wait_event(self, name: str) -> dict[str, Any]:
        """The first event `name` since the events were last cleared (waiting for it)."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for i, ev in enumerate(self._events):
                if ev["method"] == name:
                    del self._events[: i + 1]
                    return dict(ev.get("params", {}))
            self._events.append(self._receive(deadline))

    def _loaded_after(self, action: Any) -> None:
        self._events.clear()
        action()
        self.wait_event("Page.loadEventFired")

    def goto(self, url: str) -> None:
        """Open `url` and wait until the page (after any redirects) has loaded."""
        def navigate() -> None:
            result = self.call("Page.navigate", url=url)
            if result.get("errorText"):
                raise CdpError(f"navigating to {url}: {result['errorText']}")
        self._loaded_after(navigate)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able values)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    def text(self, selector: str) -> str:
        """The visible text of the first element matching `selector`."""
        value = self.evaluate(f"(() => {{ const e = document.querySelector("
                              f"{json.dumps(selector)}); return e ? e.innerText : null; }})()")
        if value is None:
            raise AssertionError(f"no element {selector!r} on {self.url}")
        return str(value).strip()

    def texts(self, selector: str) -> list[str]:
        return [str(t).strip() for t in self.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}), "
            f"e => e.innerText)")]

    def count(self, selector: str) -> int:
        return int(self.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"))

    @property
    def url(self) -> str:
        return str(self.evaluate("location.href"))

    def fill(self, selector: str, value: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).value = "
                      f"{json.dumps(value)}")

    def click(self, selector: str) -> None:
        """Click the element (a link, a submit button) and wait for the page it loads."""
        self._loaded_after(lambda: self.evaluate(
            f"document.querySelector({json.dumps(selector)}).click()"))

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)
        if mobile:
            self.call("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=5)

    def clear_cookies(self) -> None:
        self.call("Network.clearBrowserCookies")

    def cookies(self) -> list[dict[str, Any]]:
        return list(self.call("Network.getCookies")["cookies"])

    def screenshot(self, path: Path) -> Path:
        """The whole page, not only the viewport, as PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"],
                               "height": size["height"], "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
