"""A WSGI request read into what the pages need, and the response they give back."""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote

MAX_FORM_BYTES = 16 * 1024  # the forms are a few fields; anything bigger is not ours


class HttpError(Exception):
    """Ends a request with `status` and a message meant for the user."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        # PEP 3333 hands the path over as latin-1 characters of the (unquoted) bytes.
        raw = str(environ.get("PATH_INFO") or "/")
        self.path = raw.encode("latin-1", "replace").decode("utf-8", "replace")
        self.query_string = str(environ.get("QUERY_STRING", ""))
        self._query = parse_qs(self.query_string)
        self._form: dict[str, str] | None = None

    @property
    def full_path(self) -> str:
        """The path, quoted again, with the query: where to come back to after a login."""
        path = quote(self.path)
        return f"{path}?{self.query_string}" if self.query_string else path

    def arg(self, name: str) -> str | None:
        values = self._query.get(name)
        return values[0] if values else None

    def cookie(self, name: str) -> str | None:
        # By hand, not http.cookies: SimpleCookie drops every cookie of a header that has
        # one it does not like, and ours needs no unquoting.
        for part in str(self.environ.get("HTTP_COOKIE", "")).split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value
        return None

    def form(self) -> dict[str, str]:
        """The urlencoded body's fields (first value of each)."""
        if self._form is not None:
            return self._form
        ctype = str(self.environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Expected a form.")
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM_BYTES:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "The form is too large.")
        body = self.environ["wsgi.input"].read(length) if length else b""
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        self._form = {k: v[0] for k, v in fields.items()}
        return self._form

    @property
    def is_https(self) -> bool:
        """Reached over TLS, here or at a reverse proxy that says so."""
        forwarded = str(self.environ.get("HTTP_X_FORWARDED_PROTO", "")).lower()
        return self.environ.get("wsgi.url_scheme") == "https" or forwarded == "https"

    @property
    def host_is_loopback(self) -> bool:
        host = str(self.environ.get("HTTP_HOST", "")).lower()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name in ("localhost", "127.0.0.1", "[::1]") or name.startswith("127.")


@dataclass
class Response:
    status: HTTPStatus = HTTPStatus.OK
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def redirect(location: str, status: HTTPStatus = HTTPStatus.SEE_OTHER) -> Response:
    return Response(status, headers=[("Location", location)])
