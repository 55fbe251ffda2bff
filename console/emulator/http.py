"""Real HTTP on loopback: every revision answers on its own port, each service on another.

The service's own URL routes each request by the current traffic weights, the way Cloud
Run's service URL does; a revision's URL (what a traffic tag's `uri` points at) always
answers as that revision. Servers start lazily, the first time a URL is handed out, and
`HttpFront.stop()` shuts them all down.

A healthy revision answers each smoke check the config lists for its service with the
expected status and a body containing the expected text, after a latency drawn from its
behaviour (real milliseconds, capped at 300 ms); other paths get 404. A crash-looping or
not-yet-ready revision answers 503 to everything.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from console.emulator.fleet import Fleet, SimRevision, SimService

MAX_LATENCY_SECONDS = 0.3


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, resolve: Callable[[], SimRevision | None], front: HttpFront):
        self.resolve = resolve
        self.front = front
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after stop()
    server_version = "Google Frontend"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        status, content_type, body, revision = self.server.front.respond(self.server.resolve(), self.command, self.path)
        payload = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if revision:
            self.send_header("X-Served-By-Revision", revision)
        self.end_headers()
        if send_body:
            self.wfile.write(payload)


class HttpFront:
    """The loopback HTTP servers of one emulator."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self._lock = threading.Lock()
        self._servers: dict[tuple, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._rng = random.Random(f"http/{fleet.seed}")
        self._stopped = False

    def revision_url(self, rev: SimRevision) -> str:
        svc = rev.service
        key = ("revision", svc.project, svc.region, svc.name, rev.name)
        return self._ensure(key, lambda: rev)

    def service_url(self, svc: SimService) -> str:
        key = ("service", svc.project, svc.region, svc.name)
        return self._ensure(key, lambda: self._pick(svc))

    def _pick(self, svc: SimService) -> SimRevision | None:
        with self.fleet.lock:
            self.fleet.refresh()
            split = svc.split_at(self.fleet.clock.now())
            if not split:
                return None
            with self._lock:
                roll = self._rng.random()
            for name, fraction in split.items():
                roll -= fraction
                if roll < 0:
                    return svc.revisions.get(name)
            return svc.revisions.get(next(reversed(split)))

    def _ensure(self, key: tuple, resolve: Callable[[], SimRevision | None]) -> str:
        with self._lock:
            server = self._servers.get(key)
            if server is None:
                if self._stopped:
                    return "http://127.0.0.1:9"  # the emulator is stopped: nothing listens
                server = _Server(resolve, self)
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name=f"emulator-http-{key[-1]}",
                    daemon=True,
                )
                thread.start()
                self._servers[key] = server
                self._threads.append(thread)
            return server.url

    def respond(self, rev: SimRevision | None, method: str, raw_path: str) -> tuple[int, str, str, str]:
        """(status, content type, body, revision name) for one request."""
        if rev is None:
            return 503, "text/plain; charset=utf-8", "no revision is serving traffic\n", ""
        with self.fleet.lock:
            self.fleet.refresh()
            now = self.fleet.clock.now()
            behavior = rev.behavior_at(now)
            ready = rev.ready
            svc = rev.service
            checks = tuple(svc.smoke)
        if behavior.crash_looping or not ready:
            return (
                503,
                "text/html; charset=utf-8",
                "<html><head><title>503 Service Unavailable</title></head><body>"
                "<h1>Error: Service Unavailable</h1><p>The service you requested is not available yet. "
                "Please try again in 30 seconds.</p></body></html>\n",
                rev.name,
            )
        path = urlsplit(raw_path).path or "/"
        check = next((c for c in checks if c.path == path), None)
        self._delay(behavior.latency_median_ms, behavior.latency_sigma)
        if check is None:
            return 404, "text/html; charset=utf-8", f"<html><body><h1>404 Not Found</h1><p>{path}</p></body></html>\n", rev.name
        expected = check.expect_body or ""
        if path == "/":
            body = (
                f"<!doctype html><html><head><title>{expected or svc.name}</title></head>"
                f'<body><div id="app" data-revision="{rev.name}">{expected}</div></body></html>\n'
            )
            return check.expect_status, "text/html; charset=utf-8", body, rev.name
        doc = {"status": "ok", "service": svc.name, "revision": rev.name, "path": path}
        if expected and expected not in json.dumps(doc):
            doc["message"] = expected
        return check.expect_status, "application/json", json.dumps(doc) + "\n", rev.name

    def _delay(self, median_ms: float, sigma: float) -> None:
        import math

        with self._lock:
            ms = median_ms * math.exp(self._rng.gauss(0.0, sigma))
        threading.Event().wait(min(ms / 1000.0, MAX_LATENCY_SECONDS))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            servers = list(self._servers.values())
            self._servers.clear()
            threads, self._threads = self._threads, []
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=2)
