"""A WSGI test client: calls the app directly, keeps its cookies like a browser would."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit
from wsgiref.util import setup_testing_defaults

from cloud_bridge.clinic.web.app import DashboardApp


@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    text: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def cookies_set(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def csrf(self) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert m, "no CSRF token in the page"
        return m.group(1)


class Client:
    def __init__(self, app: DashboardApp, host: str = "127.0.0.1:8080") -> None:
        self.app = app
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Result:
        parts = urlsplit(path)
        body = urlencode(form).encode() if form is not None else b""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query, "HTTP_HOST": self.host,
            "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if form is not None:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for k, v in (headers or {}).items():
            environ["HTTP_" + k.upper().replace("-", "_")] = v
        setup_testing_defaults(environ)
        got: dict[str, Any] = {}

        def start_response(status: str, hdrs: list[tuple[str, str]]) -> None:
            got["status"], got["headers"] = int(status.split()[0]), hdrs

        text = b"".join(self.app(environ, start_response)).decode("utf-8")
        result = Result(got["status"], got["headers"], text)
        for cookie in result.cookies_set():
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return result

    def get(self, path: str, **kw: Any) -> Result:
        return self.request("GET", path, **kw)

    def post(self, path: str, form: dict[str, str], **kw: Any) -> Result:
        return self.request("POST", path, form=form, **kw)

    def login(self, name: str, password: str, next_path: str = "") -> Result:
        page = self.get("/login")
        return self.post("/login", {"csrf": page.csrf, "name": name, "password": password,
                                    "next": next_path})
