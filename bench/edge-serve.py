#!/usr/bin/env python3
"""Per-request cost of the edge component under `usher edge serve`, beside the runtime's floor.

Starts a local origin (real playlists and a 64 KiB segment, on 127.0.0.1), then two
`usher edge serve` processes with the same configuration: one runs the edge component, the other
a hello-world component built and exported the same way (bench/hello-component). For each kind
of request it drives one keep-alive connection with `wrk` for a few seconds against each, in
alternating rounds, and prints the median cost per request and its ratio to the floor.

The floor is what the host costs: accepting the request, a fresh instance from the pooling
allocator, the WASI context, moving the request in and the response out. The ratio is what the
edge's own work adds (ticket and token checks, the lease store, the cache lookup, the rewrite).
Both run in the same minute on the same machine, so the ratio is what to compare across runs,
not the microseconds.

Usage: python3 bench/edge-serve.py [--seconds 3] [--rounds 3]
Needs: release builds of usher and both components (the script makes them), and wrk (Debian's
package; installed when missing and apt is there).
"""

import argparse
import http.server
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFORMANCE = os.path.join(ROOT, "edge/core/tests/conformance")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
USHER = os.path.join(TARGET, "release/usher")
EDGE_WASM = os.path.join(TARGET, "wasm32-wasip2/release/usher-edge-wasi-http.wasm")
HELLO_WASM = os.path.join(TARGET, "wasm32-wasip2/release/usher-bench-hello.wasm")
EVENT = "final-2026"
SEGMENT = os.urandom(64 * 1024)


def build():
    run = lambda *args: subprocess.run(args, cwd=ROOT, check=True)
    run("cargo", "build", "--locked", "--quiet", "--release", "-p", "usher")
    run("cargo", "build", "--locked", "--quiet", "--release", "--target", "wasm32-wasip2",
        "-p", "usher-edge-wasi-http", "-p", "usher-bench-hello")


def ensure_wrk():
    if shutil.which("wrk"):
        return
    if shutil.which("apt-get"):
        print("installing wrk from Debian's packages", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not shutil.which("wrk"):
        sys.exit("wrk is required (Debian: apt-get install wrk)")


class Origin(http.server.ThreadingHTTPServer):
    """The event's origin: playlists that may be cached for a second, an immutable segment."""

    daemon_threads = True


class OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.split("?")[0]
        prefix = f"/live/{EVENT}/"
        files = {
            prefix + "master.m3u8": ("master.m3u8", "max-age=1"),
            prefix + "720p/index.m3u8": ("720p.m3u8", "max-age=1"),
        }
        if path in files:
            name, cache = files[path]
            with open(os.path.join(CONFORMANCE, "origin", name), "rb") as f:
                self.send(200, f.read(), "application/vnd.apple.mpegurl", cache)
        elif path.startswith(prefix) and path.endswith(".m4s"):
            self.send(200, SEGMENT, "video/iso.segment", "max-age=3600")
        else:
            self.send(404, b"not found\n", "text/plain", "no-store")

    def send(self, status, body, content_type, cache):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("cache-control", cache)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_dir(origin_port):
    work = tempfile.mkdtemp(prefix="usher-bench-")
    for name in ["pathways.json", "settings.json", "ticket-keys.json", "session-key.txt"]:
        shutil.copy(os.path.join(CONFORMANCE, "config", name), work)
    with open(os.path.join(CONFORMANCE, "config/events.json")) as f:
        events = json.load(f)
    events["origins"][0]["base_url"] = f"http://127.0.0.1:{origin_port}/"
    with open(os.path.join(work, "events.json"), "w") as f:
        json.dump(events, f)
    return work


def serve(wasm, config, extra):
    port = free_port()
    process = subprocess.Popen(
        [USHER, "edge", "serve", "--wasm", wasm, "--config", config,
         "--listen", f"127.0.0.1:{port}", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return process, base
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit(f"usher edge serve on {port} did not start")


def mint_ticket(subject):
    with open(os.path.join(CONFORMANCE, "config/ticket-keys.json")) as f:
        keyring = f.name
    out = subprocess.run(
        [USHER, "token", "mint", "--kind", "jwt", "--keyring", keyring, "--kid", "tickets-2026",
         "--event", EVENT, "--audience", "usher", "--issuer", "tickets.example",
         "--subject", subject, "--max-streams", "1", "--ttl", "3600", "--raw"],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def wrk(url, seconds):
    """Requests per second over one keep-alive connection, sequentially."""
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", url],
                         check=True, capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if not match:
        sys.exit(f"wrk printed no rate:\n{out}")
    if non2xx:
        sys.exit(f"{url}: {non2xx.group(1)} error answers; the benchmark would measure refusals")
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        build()
    ensure_wrk()

    origin = Origin(("127.0.0.1", 0), OriginHandler)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    config = config_dir(origin.server_address[1])
    help_text = subprocess.run([USHER, "edge", "serve", "--help"], capture_output=True,
                               text=True).stdout
    extra = []
    if "--assets" in help_text and os.path.isdir(os.path.join(TARGET, "edge-assets")):
        extra = ["--assets", os.path.join(TARGET, "edge-assets")]
    edge, edge_base = serve(EDGE_WASM, config, extra)
    hello, hello_base = serve(HELLO_WASM, config, extra)
    try:
        # A device hint, as the player page sends: each request is a page reload on one screen,
        # which takes its lease over (a store read and write every time).
        reloads = f"/events/{EVENT}/master.m3u8?ticket={mint_ticket('bench-reloads')}&device=bench"
        player_ticket = mint_ticket("bench-player")

        def session_token():
            """A fresh session token, as a playing viewer holds one: its lease was just taken, so
            its reloads are the common case that needs no store access."""
            path = f"/events/{EVENT}/master.m3u8?ticket={player_ticket}&device=player"
            with urllib.request.urlopen(edge_base + path) as r:
                playlist = r.read().decode()
            return re.search(r"__token__=([^\"\s&]+)", playlist).group(1)

        routes = [
            ("health", lambda: "/healthz"),
            ("player page", lambda: f"/events/{EVENT}/"),
            ("multivariant (ticket, lease taken over)", lambda: reloads),
            ("media playlist (session)",
             lambda: f"/events/{EVENT}/720p/index.m3u8?__token__={session_token()}"),
            ("segment, 64 KiB (session)",
             lambda: f"/events/{EVENT}/720p/seg-1.m4s?__token__={session_token()}"),
        ]
        results = {name: ([], []) for name, _ in routes}
        for _ in range(args.rounds):
            for name, path in routes:
                path = path()
                edge_rps = wrk(edge_base + path, args.seconds)
                hello_rps = wrk(hello_base + path, args.seconds)
                results[name][0].append(1e6 / edge_rps)
                results[name][1].append(1e6 / hello_rps)
        print(f"\nusher edge serve, one connection, median of {args.rounds} rounds of "
              f"{args.seconds} s each\n")
        print(f"| request | edge µs/req | floor µs/req (hello) | ratio |")
        print(f"|---|---:|---:|---:|")
        for name, _ in routes:
            edge_us = statistics.median(results[name][0])
            floor_us = statistics.median(results[name][1])
            print(f"| {name} | {edge_us:.0f} | {floor_us:.0f} | {edge_us / floor_us:.2f}x |")
    finally:
        for process in (edge, hello):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        origin.shutdown()
        shutil.rmtree(config, ignore_errors=True)


if __name__ == "__main__":
    main()
