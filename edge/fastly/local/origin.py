#!/usr/bin/env python3
"""A local HLS origin for running the Fastly edge under Viceroy.

Serves DIR on 127.0.0.1 with the cache headers a live origin sends: playlists fresh for one
second (`Cache-Control: max-age=1`), everything else (init sections, segments) for an hour. It
can be told to fail, to show the edge's stale-if-error:

    POST /__origin/fail      every other request answers 503 until
    POST /__origin/recover   requests are served again
    GET  /__origin/requests  the paths served so far, as a JSON list

The control paths are for the test driving the origin directly; the edge never asks for them
(its upstream paths are below the event's `origin_path`).

Usage: origin.py DIR [--port 18080]
"""

import argparse
import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

STATE = {"failing": False, "requests": []}
LOCK = threading.Lock()


class Origin(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".m3u8": "application/vnd.apple.mpegurl",
        ".m4s": "video/iso.segment",
        ".mp4": "video/mp4",
    }

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def _control(self):
        path = self.path.split("?", 1)[0]
        if path == "/__origin/requests":
            with LOCK:
                body = json.dumps(STATE["requests"]).encode()
            self._answer(200, body, "application/json")
        elif path in ("/__origin/fail", "/__origin/recover"):
            with LOCK:
                STATE["failing"] = path.endswith("fail")
            self._answer(204, b"", None)
        else:
            self._answer(404, b"no such control\n", "text/plain")

    def _answer(self, status, body, content_type):
        self.own_answer = True
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 (the base class's naming)
        self._control()

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/__origin/"):
            return self._control()
        with LOCK:
            STATE["requests"].append(self.path)
            failing = STATE["failing"]
        if failing:
            return self._answer(503, b"origin down\n", "text/plain")
        return super().do_GET()

    def end_headers(self):
        if not getattr(self, "own_answer", False) and self.command in ("GET", "HEAD"):
            path = self.path.split("?", 1)[0]
            live = path.endswith(".m3u8")
            self.send_header("Cache-Control", "max-age=1" if live else "max-age=3600")
        super().end_headers()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    handler = functools.partial(Origin, directory=args.dir)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    print(f"origin listening on http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
