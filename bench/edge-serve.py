#!/usr/bin/env python3
"""Per-request cost of the edge under wasmtime, Viceroy and workerd, each beside its floor.

Starts a local origin (real playlists and a 64 KiB segment, on 127.0.0.1), then, from the same
configuration documents, the edge and a hello-world on each runtime:

- wasmtime: two `usher edge serve` processes (the pooling allocator), one running the edge
  component, the other a hello-world component built and exported the same way
  (bench/hello-component). This is the figure the edge's target is set on.
- Viceroy (Fastly's local Compute runtime): the Fastly module, and a hello-world module built
  with the same SDK and profile (bench/hello-fastly), under a generated fastly.toml whose
  backend points at the local origin.
- workerd (the Workers runtime): the Worker, and a hello-world Worker (bench/hello-worker),
  under configurations written by edge/cloudflare/local/workerd-config.mjs.

For each kind of request it drives one keep-alive connection with `wrk` for a few seconds
against each process in turn, in rounds, and prints the median cost per request and its ratios:
to the same runtime's floor, and to the wasmtime floor. All of them run in the same minutes on
the same machine, so the ratios are what to compare across runs, not the microseconds. The
segment is measured a second time with a new connection per request, for every process alike:
Viceroy's local server stalls a streamed body on a kept-alive connection (see the routes). It
also times the origin alone serving the segment, since Viceroy and workerd do not cache
segments locally and fetch one from the origin on every request.

The floor is what the host costs: accepting the request, a fresh instance (or, for workerd, the
isolate's event), the runtime's context, moving the request in and the response out. The ratio
to it is what the edge's own work adds (ticket and token checks, the lease store, the cache
lookup, the rewrite).

Usage: python3 bench/edge-serve.py [--seconds 3] [--rounds 3] [--runtimes wasmtime,viceroy,workerd]
           [--viceroy PATH] [--workerd PATH] [--no-build]
Needs: release builds of usher and the wasm artifacts (the script makes them unless --no-build:
cargo for the wasmtime and Fastly ones, `make cloudflare-worker` for the Worker), wrk (Debian's
package; installed when missing and apt is there), and for the other runtimes Viceroy 0.22.0
(`cargo install viceroy --version 0.22.0 --locked`), node, and workerd from
edge/cloudflare/node_modules (`npm ci` there). Everything listens on 127.0.0.1; every process it
starts is stopped before it exits, pass or fail.
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
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFORMANCE = os.path.join(ROOT, "edge/core/tests/conformance")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
USHER = os.path.join(TARGET, "release/usher")
EDGE_WASM = os.path.join(TARGET, "wasm32-wasip2/release/usher-edge-wasi-http.wasm")
HELLO_WASM = os.path.join(TARGET, "wasm32-wasip2/release/usher-bench-hello.wasm")
FASTLY_WASM = os.path.join(TARGET, "wasm32-wasip1/release-fastly/usher-edge-fastly.wasm")
# The Fastly floor is its own workspace (bench/hello-fastly/Cargo.toml says why), built into a
# directory of its own below the target directory.
HELLO_FASTLY_DIR = os.path.join(ROOT, "bench/hello-fastly")
HELLO_FASTLY_TARGET = os.path.join(TARGET, "bench-hello-fastly")
HELLO_FASTLY_WASM = os.path.join(
    HELLO_FASTLY_TARGET, "wasm32-wasip1/release-fastly/usher-bench-hello-fastly.wasm")
WORKER = os.path.join(ROOT, "edge/cloudflare/build")
HELLO_WORKER = os.path.join(ROOT, "bench/hello-worker")
WORKERD_CONFIG = os.path.join(ROOT, "edge/cloudflare/local/workerd-config.mjs")
WORKERD = os.path.join(ROOT,
                       "edge/cloudflare/node_modules/@cloudflare/workerd-linux-64/bin/workerd")
ASSETS = os.path.join(TARGET, "edge-assets")
EVENT = "final-2026"
SEGMENT = os.urandom(64 * 1024)
RUNTIMES = ("wasmtime", "viceroy", "workerd")


def build(runtimes):
    run = lambda *args, cwd=ROOT: subprocess.run(args, cwd=cwd, check=True)
    run("cargo", "build", "--locked", "--quiet", "--release", "-p", "usher")
    if "wasmtime" in runtimes:
        run("cargo", "build", "--locked", "--quiet", "--release", "--target", "wasm32-wasip2",
            "-p", "usher-edge-wasi-http", "-p", "usher-bench-hello")
    if "viceroy" in runtimes:
        run("cargo", "build", "--locked", "--quiet", "--profile", "release-fastly", "--target",
            "wasm32-wasip1", "-p", "usher-edge-fastly")
        run("cargo", "build", "--locked", "--quiet", "--profile", "release-fastly", "--target",
            "wasm32-wasip1", "--target-dir", HELLO_FASTLY_TARGET, cwd=HELLO_FASTLY_DIR)
    if "workerd" in runtimes:
        run("make", "--no-print-directory", "cloudflare-worker")


def ensure_wrk():
    if shutil.which("wrk"):
        return
    if shutil.which("apt-get"):
        print("installing wrk from Debian's packages", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not shutil.which("wrk"):
        sys.exit("wrk is required (Debian: apt-get install wrk)")


def find_viceroy(given):
    """--viceroy, else `viceroy` on PATH, else cargo's bin directory (cargo install's)."""
    if given:
        return given
    cargo_bin = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "bin")
    return shutil.which("viceroy") or os.path.join(cargo_bin, "viceroy")


def require(paths):
    """Exits naming every missing file and how to make it, before anything is started."""
    missing = [f"{path} ({how})" for path, how in paths if not os.path.exists(path)]
    if missing:
        sys.exit("missing:\n  " + "\n  ".join(missing))


class Origin(http.server.ThreadingHTTPServer):
    """The event's origin: playlists that may be cached for a second, an immutable segment."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        # A runtime dropping its pooled connection to the origin (when it stops, or after a
        # request it was told to close) is the runtime's business, not a failure of the run.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


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


def config_dir(work, origin_port):
    """The conformance configuration, with its origin at the local one: what every runtime reads."""
    config = os.path.join(work, "config")
    os.makedirs(config)
    for name in ["pathways.json", "settings.json", "ticket-keys.json", "session-key.txt"]:
        shutil.copy(os.path.join(CONFORMANCE, "config", name), config)
    with open(os.path.join(CONFORMANCE, "config/events.json")) as f:
        events = json.load(f)
    for origin in events["origins"]:
        origin["base_url"] = f"http://127.0.0.1:{origin_port}/"
    with open(os.path.join(config, "events.json"), "w") as f:
        json.dump(events, f)
    return config


class Processes:
    """Every process the benchmark starts, each in its own process group, stopped together."""

    def __init__(self):
        self.started = []

    def start(self, args, name, cwd=None):
        """Starts a server on a free port (args is a function of "127.0.0.1:PORT") and waits until
        it answers /healthz; returns its base URL."""
        address = f"127.0.0.1:{free_port()}"
        process = subprocess.Popen(args(address), cwd=cwd, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        self.started.append(process)
        base = f"http://{address}"
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                sys.exit(f"{name} exited with status {process.returncode} before answering")
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                return base
            except urllib.error.HTTPError as error:
                sys.exit(f"{name}: /healthz answered {error.code}")
            except OSError:
                time.sleep(0.05)
        sys.exit(f"{name} on {address} did not answer within 60 s")

    def stop_all(self):
        for process in self.started:
            self.signal(process, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.signal(process, signal.SIGKILL)
                process.wait()

    @staticmethod
    def signal(process, number):
        """Signals the process's group (its own: start_new_session), unless it is gone."""
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            pass


def fastly_manifest(work, config, origin_port, name):
    """A fastly.toml for Viceroy: the configuration documents in the Config Store, the keys in the
    Secret Store, one backend per origin named after its id, the stores the module opens."""
    with open(os.path.join(config, "events.json")) as f:
        origins = [origin["id"] for origin in json.load(f)["origins"]]
    store = {}
    for name in ["events.json", "pathways.json", "settings.json"]:
        with open(os.path.join(config, name)) as f:
            store[name.removesuffix(".json")] = f.read()
    with open(os.path.join(work, "config-store.json"), "w") as f:
        json.dump(store, f)
    q = json.dumps  # a TOML basic string is a JSON string
    backends = "".join(
        f"[local_server.backends.{q(origin)}]\nurl = {q(f'http://127.0.0.1:{origin_port}/')}\n"
        "first_byte_timeout_ms = 10000\nbetween_bytes_timeout_ms = 10000\n\n"
        for origin in origins)
    hls_js = "hls.js/1.7.4/hls.min.js"
    manifest = f"""manifest_version = 3
name = "usher-bench"
language = "other"

{backends}[local_server.config_stores.usher_config]
file = {q(os.path.join(work, "config-store.json"))}
format = "json"

[local_server.secret_stores]
usher_secrets = [
  {{ key = "ticket-keys", file = {q(os.path.join(config, "ticket-keys.json"))} }},
  {{ key = "session-key", file = {q(os.path.join(config, "session-key.txt"))} }},
]

[local_server.kv_stores]
usher_health = []
usher_assets = [{{ key = {q(hls_js)}, file = {q(os.path.join(ASSETS, hls_js))} }}]
usher_leases = []
"""
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(manifest)
    return path


def workerd_config(work, config, worker, name):
    """The workerd configuration edge/cloudflare/local/workerd-config.mjs writes for `worker`,
    listening on a port chosen when it starts; returns a function of that address."""

    def args(address):
        out = os.path.join(work, f"{name}-{address.rsplit(':', 1)[1]}")
        extra = ["--assets", ASSETS] if os.path.isdir(ASSETS) else []
        capnp = subprocess.run(
            ["node", WORKERD_CONFIG, "--config", config, "--worker", worker, "--listen", address,
             "--out", out, *extra],
            check=True, capture_output=True, text=True).stdout.strip()
        return capnp

    return args


def hello_worker_dir(work):
    """bench/hello-worker laid out as worker-build lays out a Worker, which is what the generator
    takes: index.js beside an index_bg.wasm. The hello Worker imports no wasm, so the module is an
    empty one (the 8-byte header), embedded and never instantiated."""
    worker = os.path.join(work, "hello-worker")
    os.makedirs(worker)
    shutil.copy(os.path.join(HELLO_WORKER, "index.js"), worker)
    with open(os.path.join(worker, "index_bg.wasm"), "wb") as f:
        f.write(b"\0asm\x01\0\0\0")
    return worker


def mint_ticket(subject):
    keyring = os.path.join(CONFORMANCE, "config/ticket-keys.json")
    out = subprocess.run(
        [USHER, "token", "mint", "--kind", "jwt", "--keyring", keyring, "--kid", "tickets-2026",
         "--event", EVENT, "--audience", "usher", "--issuer", "tickets.example",
         "--subject", subject, "--max-streams", "1", "--ttl", "3600", "--raw"],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def wrk(url, seconds, close=False):
    """Requests per second over one connection, sequentially: kept alive, or with `close` a new
    one for every request (the server closes it, which wrk counts as a read error)."""
    headers = ["-H", "Connection: close"] if close else []
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", *headers, url],
                         check=True, capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not match:
        sys.exit(f"wrk printed no rate:\n{out}")
    if non2xx:
        sys.exit(f"{url}: {non2xx.group(1)} error answers; the benchmark would measure refusals")
    if errors and any(int(n) for i, n in enumerate(errors.groups()) if not (close and i == 1)):
        sys.exit(f"{url}: {errors.group(0)}; the benchmark would measure failures")
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES),
                        help="which of wasmtime, viceroy, workerd to run (comma-separated)")
    parser.add_argument("--viceroy", help="the viceroy binary (default: PATH, then ~/.cargo/bin)")
    parser.add_argument("--workerd", default=WORKERD)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    runtimes = [r for r in RUNTIMES if r in args.runtimes.split(",")]
    if not runtimes or set(args.runtimes.split(",")) - set(RUNTIMES):
        sys.exit(f"--runtimes takes some of {', '.join(RUNTIMES)}")
    # Ratios are read against the wasmtime floor, so it is always measured.
    if "wasmtime" not in runtimes:
        runtimes.insert(0, "wasmtime")
    viceroy = find_viceroy(args.viceroy)
    if not args.no_build:
        build(runtimes)
    needed = [(USHER, "cargo build --release -p usher"),
              (EDGE_WASM, "make wasm-check"),
              (HELLO_WASM, "cargo build --release --target wasm32-wasip2 -p usher-bench-hello")]
    if "viceroy" in runtimes:
        needed += [(viceroy, "cargo install viceroy --version 0.22.0 --locked"),
                   (FASTLY_WASM, "make wasm-check"),
                   (HELLO_FASTLY_WASM, "this script without --no-build"),
                   (os.path.join(ASSETS, "hls.js"), "make edge-assets")]
    if "workerd" in runtimes:
        needed += [(args.workerd, "npm ci in edge/cloudflare"),
                   (os.path.join(WORKER, "index_bg.wasm"), "make cloudflare-worker")]
        if not shutil.which("node"):
            sys.exit("node is required to write workerd's configuration")
    require(needed)
    ensure_wrk()

    origin = Origin(("127.0.0.1", 0), OriginHandler)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    origin_base = f"http://127.0.0.1:{origin.server_address[1]}"
    work = tempfile.mkdtemp(prefix="usher-bench-")
    processes = Processes()
    try:
        config = config_dir(work, origin.server_address[1])
        help_text = subprocess.run([USHER, "edge", "serve", "--help"], capture_output=True,
                                   text=True).stdout
        extra = []
        if "--assets" in help_text and os.path.isdir(ASSETS):
            extra = ["--assets", ASSETS]

        def usher_serve(wasm):
            return lambda address: [USHER, "edge", "serve", "--wasm", wasm, "--config", config,
                                    "--listen", address, *extra]

        # Each runtime's (edge, floor) base URLs.
        pairs = {}
        pairs["wasmtime"] = (
            processes.start(usher_serve(EDGE_WASM), "usher edge serve (edge)"),
            processes.start(usher_serve(HELLO_WASM), "usher edge serve (hello)"))
        if "viceroy" in runtimes:
            port = origin.server_address[1]

            def viceroy_serve(wasm, manifest):
                return lambda address: [viceroy, "serve", "-C", manifest, "--addr", address, wasm]

            pairs["viceroy"] = (
                processes.start(viceroy_serve(FASTLY_WASM,
                                              fastly_manifest(work, config, port, "edge.toml")),
                                "viceroy (edge)", cwd=work),
                processes.start(viceroy_serve(HELLO_FASTLY_WASM,
                                              fastly_manifest(work, config, port, "hello.toml")),
                                "viceroy (hello)", cwd=work))
        if "workerd" in runtimes:
            def workerd_serve(worker, name):
                capnp = workerd_config(work, config, worker, name)
                return lambda address: [args.workerd, "serve", capnp(address)]

            pairs["workerd"] = (
                processes.start(workerd_serve(WORKER, "workerd-edge"), "workerd (edge)"),
                processes.start(workerd_serve(hello_worker_dir(work), "workerd-hello"),
                                "workerd (hello)"))

        # A device hint, as the player page sends: each request is a page reload on one screen,
        # which takes its lease over (a store read and write every time).
        reloads = f"/events/{EVENT}/master.m3u8?ticket={mint_ticket('bench-reloads')}&device=bench"
        player_ticket = mint_ticket("bench-player")

        def session_token(base):
            """A fresh session token from the runtime under test, as a playing viewer holds one:
            its lease was just taken there, so its reloads are the common case that needs no
            store access."""
            path = f"/events/{EVENT}/master.m3u8?ticket={player_ticket}&device=player"
            with urllib.request.urlopen(base + path) as r:
                playlist = r.read().decode()
            return re.search(r"__token__=([^\"\s&]+)", playlist).group(1)

        segment = lambda base: f"/events/{EVENT}/720p/seg-1.m4s?__token__={session_token(base)}"
        # (name, path on a runtime, a new connection per request)
        routes = [
            ("`GET /healthz`", lambda base: "/healthz", False),
            ("player page", lambda base: f"/events/{EVENT}/", False),
            ("multivariant (ticket, lease taken over)", lambda base: reloads, False),
            ("media playlist (session)",
             lambda base: f"/events/{EVENT}/720p/index.m3u8?__token__={session_token(base)}",
             False),
            ("segment, 64 KiB (session)", segment, False),
            # Viceroy's local server does not set TCP_NODELAY on the connections it accepts, so a
            # body it streams in chunks waits for the client's delayed ACK on a kept-alive
            # connection (tens of ms). A new connection per request, for every process alike,
            # shows the segment's cost without that stall.
            ("segment, 64 KiB (session), new connection each", segment, True),
        ]
        # results[route][runtime] = ([edge µs per round], [floor µs per round])
        results = {name: {r: ([], []) for r in pairs} for name, _, _ in routes}
        origin_segment = []
        for _ in range(args.rounds):
            for name, path, close in routes:
                for runtime, (edge_base, floor_base) in pairs.items():
                    url = path(edge_base)
                    for base, figures in zip((edge_base, floor_base), results[name][runtime]):
                        figures.append(1e6 / wrk(base + url, args.seconds, close))
            origin_segment.append(
                1e6 / wrk(f"{origin_base}/live/{EVENT}/720p/seg-1.m4s", args.seconds))
    finally:
        processes.stop_all()
        origin.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    floor = {name: statistics.median(results[name]["wasmtime"][1]) for name, _, _ in routes}
    print(f"\nOne connection (kept alive unless said), median of {args.rounds} rounds of "
          f"{args.seconds} s per process and request\n")
    print("| request | runtime | edge µs/req | its floor µs/req (hello) | edge / its floor "
          "| edge / wasmtime floor |")
    print("|---|---|---:|---:|---:|---:|")
    for name, _, _ in routes:
        for runtime in pairs:
            edge_us = statistics.median(results[name][runtime][0])
            own_us = statistics.median(results[name][runtime][1])
            print(f"| {name} | {runtime} | {edge_us:.0f} | {own_us:.0f} | {edge_us / own_us:.2f}x "
                  f"| {edge_us / floor[name]:.2f}x |")
    print(f"\nThe local origin alone, serving the 64 KiB segment on a kept-alive connection: "
          f"{statistics.median(origin_segment):.0f} µs/req (median of {args.rounds}). Viceroy "
          "and workerd fetch the segment from it on every request; usher edge serve caches it.")


if __name__ == "__main__":
    main()
