"""What each InfluxDB HTTP answer means for the caller: retry (StoreUnavailable) or
dead-letter (StoreRejected). The 1.x store meets real refusals in test_store_contract."""

from __future__ import annotations

import email.utils
import http.server
import socketserver
import threading

import pytest

from cloud_bridge.stores.base import StoreRejected, StoreUnavailable
from cloud_bridge.stores.influx_http import InfluxHTTP, error_for, error_message, retry_after_s


@pytest.mark.parametrize("status", [400, 413, 422])
def test_bad_data_is_rejected_with_the_servers_words(status: int) -> None:
    err = error_for(status, 'unable to parse "x": bad timestamp', {}, "write to X")
    assert isinstance(err, StoreRejected)
    assert err.status == status
    assert f"HTTP {status}" in str(err) and "bad timestamp" in str(err)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_unavailable_with_retry_after(status: int) -> None:
    err = error_for(status, "busy", {"retry-after": "17"}, "write to X")
    assert isinstance(err, StoreUnavailable)
    assert err.retry_after_s == 17.0


@pytest.mark.parametrize(("status", "hint"), [
    (401, "credentials"), (403, "credentials"), (404, "bucket"), (405, "failed"),
])
def test_configuration_errors_keep_the_data_for_later(status: int, hint: str) -> None:
    err = error_for(status, "nope", {}, "write to X")
    assert isinstance(err, StoreUnavailable)
    assert err.retry_after_s is None
    assert hint in str(err)


def test_retry_after_forms() -> None:
    assert retry_after_s(None) is None
    assert retry_after_s("") is None
    assert retry_after_s(" 30 ") == 30.0
    assert retry_after_s("soon") is None
    assert retry_after_s("²") is None  # a digit to str.isdigit, not to float()
    now = 1_764_200_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after_s(date, now_s=now) == pytest.approx(90.0)
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert retry_after_s(past, now_s=now) == 0.0


def test_error_message_sources() -> None:
    assert error_message('{"error":"field type conflict"}', {}, "Bad Request") == (
        "field type conflict"
    )
    assert error_message('{"code":"invalid","message":"no bucket"}', {}, "x") == "no bucket"
    assert error_message("", {"X-Influxdb-Error": "from header"}, "x") == "from header"
    assert error_message("plain text\n", {}, "x") == "plain text"
    assert error_message("", {}, "Service Unavailable") == "Service Unavailable"


class _Server(socketserver.ThreadingTCPServer):
    """A bare HTTP/1.1 server that answers 204 and counts the connections it accepted;
    with `close_after`, it drops each connection after that many answers, without saying
    so (as a server closing an idle keep-alive connection does)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, close_after: int | None = None) -> None:
        self.close_after = close_after
        self.connections = 0
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1
        self.answered = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(self.path)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.answered += 1
        if self.server.close_after is not None and self.answered >= self.server.close_after:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_factory():
    servers: list[_Server] = []

    def start(close_after: int | None = None) -> tuple[_Server, InfluxHTTP]:
        server = _Server(close_after)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        host, port = server.server_address[:2]
        return server, InfluxHTTP(f"http://{host}:{port}", auth_header=None, timeout_s=5)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_requests_share_a_kept_alive_connection(server_factory) -> None:
    server, http = server_factory()
    for i in range(5):
        assert http.request("POST", "/write", {"db": "x", "n": str(i)}, body=b"m v=1").status == 204
    http.close()
    assert len(server.requests) == 5
    assert server.connections == 1


def test_a_connection_the_server_dropped_is_replaced_and_the_request_sent_again(
        server_factory) -> None:
    server, http = server_factory(close_after=1)
    for i in range(4):
        assert http.request("POST", "/write", {"db": "x", "n": str(i)}, body=b"m v=1").status == 204
    http.close()
    # Every request arrived once: the one that met the dropped connection went on a new one.
    assert [p.rsplit("=", 1)[1] for p in server.requests] == ["0", "1", "2", "3"]
    assert server.connections == 4


def test_no_server_is_unavailable_not_retried_forever(server_factory) -> None:
    server, http = server_factory()
    server.shutdown()
    server.server_close()
    with pytest.raises(StoreUnavailable):
        http.request("POST", "/write", {"db": "x"}, body=b"m v=1")
