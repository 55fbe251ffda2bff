"""A Slack-compatible webhook on loopback for tests: records what was posted, answers as told."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def webhook(statuses: Sequence[int] = (200,)) -> Iterator[tuple[str, list[dict]]]:
    """Yields (url, posts); the n-th post is answered with statuses[n] (the last status after that)."""
    posts: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(statuses[min(len(posts), len(statuses)) - 1])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", posts
    finally:
        server.shutdown()
        server.server_close()
