"""The stdlib WSGI server (wsgiref), with a fixed pool of worker threads.

A pool, not a thread per connection: the SQLite store keeps one connection per thread
that uses it, so long-lived workers reuse theirs; and a flood of connections waits in the
queue instead of starting threads without bound. An idle connection is dropped after
IDLE_TIMEOUT_S so that a browser's speculative connections cannot hold the workers.

Plain HTTP on purpose: TLS, a public address and rate limits belong to a reverse proxy in
front (docs/architecture.md).
"""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

log = logging.getLogger("rtm.web")

WORKERS = 8
IDLE_TIMEOUT_S = 15


class _Handler(WSGIRequestHandler):
    timeout = IDLE_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class PooledWSGIServer(WSGIServer):
    def __init__(self, address: tuple[str, int], app: Any, workers: int = WORKERS) -> None:
        # IPv6 when the host is one ("::1"), IPv4 otherwise.
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.set_app(app)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rtm-web")

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._work, request, client_address)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("request from %s failed", client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(host: str, port: int, app: Any) -> PooledWSGIServer:
    """Bound and listening (port 0: a free one, see `.url`), not yet serving."""
    return PooledWSGIServer((host, port), app)


def serve_in_thread(server: PooledWSGIServer) -> threading.Thread:
    """Serve until server.shutdown(); for tests and embedding."""
    thread = threading.Thread(target=server.serve_forever, name="rtm-web-server",
                              daemon=True)
    thread.start()
    return thread
