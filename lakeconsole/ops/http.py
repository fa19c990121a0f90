"""A small threaded HTTP server: /metrics, /healthz and /readyz on the stdlib."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lakeconsole.ops.health import Health
from lakeconsole.ops.metrics import LakeMetrics

log = logging.getLogger(__name__)


class OpsServer:
    """Serves the metrics and health of one process on a thread of its own."""

    def __init__(self, host: str, port: int, metrics: LakeMetrics, health: Health) -> None:
        self.metrics, self.health = metrics, health
        handler = type("OpsHandler", (_Handler,), {"ops": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 picks a free one)."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """http://host:port."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> OpsServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ops http",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `path`."""
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)
        if route == "/healthz":
            return _json(200, {"status": "alive"})
        if route == "/readyz":
            problems = self.health.problems()
            status = 200 if not problems else 503
            return _json(status, {"ready": not problems, "problems": problems})
        return _json(404, {"error": f"no such path {route}",
                           "paths": ["/metrics", "/healthz", "/readyz"]})


def _json(status: int, body: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode() + b"\n"


class _Handler(BaseHTTPRequestHandler):
    ops: OpsServer

    def do_GET(self) -> None:
        try:
            status, ctype, body = self.ops.respond(self.path)
        except Exception:  # a bug must give a 500, not kill the thread silently
            log.exception("ops endpoint %s failed", self.path)
            status, ctype, body = _json(500, {"error": "internal error"})
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the log: keep them at debug."""
        log.debug("%s %s", self.address_string(), format % args)
