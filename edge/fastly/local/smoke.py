#!/usr/bin/env python3
"""Runs the Fastly edge module under Viceroy and checks what viewers get, end to end.

It makes a real HLS stream with FFmpeg (fMP4 segments), serves it with origin.py on
127.0.0.1:18080, starts `viceroy serve` on 127.0.0.1:7676 with fastly.toml, mints tickets with
`usher token mint`, and checks the player page (and its 304), the rewritten multivariant and
media playlists, Content Steering, the init section and a segment (byte for byte), the player
library from the asset store, a beacon and its QoE event, refusals with their reasons, the
stream lease (429 for a second screen), the playlist cache (one origin request for two viewers)
and stale-if-error (the origin failing), then restarts Viceroy with a broken secret and checks
503 `config_error`. Everything it starts, it stops.

Usage: python3 edge/fastly/local/smoke.py [--viceroy PATH] [--wasm PATH] [--usher PATH]

Needs: viceroy, ffmpeg, the module (`make wasm-check`), `usher` (`cargo build -p usher`) and the
player library (`make edge-assets`). Ends with one line, `N passed, M failed`; exit status 1 if
anything failed.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FASTLY = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(FASTLY))
EDGE = ("127.0.0.1", 7676)
ORIGIN = ("127.0.0.1", 18080)
EVENT = "final-2026"
HLS_JS = "hls.js/1.7.4/hls.min.js"

RESULTS = []


def check(name, condition, detail=""):
    RESULTS.append(bool(condition))
    print(("ok    " if condition else "FAIL  ") + name + ("" if condition else f": {detail}"))


def request(url, method="GET", headers=None, body=None):
    """Status, headers (lowercased names) and body of one request, redirects not followed."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def edge(path):
    return f"http://{EDGE[0]}:{EDGE[1]}{path}"


def wait_for_port(address, process, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection(address, timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {address} after {seconds} s")


def port_free(address):
    try:
        socket.create_connection(address, timeout=0.5).close()
        return False
    except OSError:
        return True


def make_stream(root):
    out = os.path.join(root, "live", EVENT)
    os.makedirs(out)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "6",
         "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50",
         "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
         "-hls_segment_type", "fmp4", "-var_stream_map", "v:0,a:0,name:360p",
         "-master_pl_name", "master.m3u8", "-hls_segment_filename", "%v/seg%03d.m4s",
         "%v/index.m3u8"],
        cwd=out, check=True)
    return out


def mint(usher, subject, **extra):
    args = [usher, "token", "mint", "--kind", "jwt",
            "--keyring", os.path.join(HERE, "ticket-keys.json"), "--kid", "tickets-2026",
            "--event", EVENT, "--audience", "usher", "--issuer", "tickets.example",
            "--subject", subject, "--raw"]
    for name, value in extra.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    if "ttl" not in extra and "end" not in extra:
        args += ["--ttl", "3600"]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def start_viceroy(viceroy, manifest, wasm, log):
    process = subprocess.Popen(
        [viceroy, "serve", "-C", manifest, "--addr", f"{EDGE[0]}:{EDGE[1]}", wasm],
        cwd=FASTLY, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(EDGE, process)
    return process


def stop(process):
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_lines(path, endpoint):
    """The JSON entries Viceroy printed for a log endpoint (`endpoint :: line`)."""
    prefix = f"{endpoint} :: "
    with open(path, encoding="utf-8", errors="replace") as f:
        return [json.loads(line[len(prefix):]) for line in f if line.startswith(prefix)]


def uris(playlist):
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viceroy", default=shutil.which("viceroy") or "viceroy")
    parser.add_argument(
        "--wasm",
        default=os.path.join(REPO, "target/wasm32-wasip1/release-fastly/usher-edge-fastly.wasm"))
    parser.add_argument("--usher", default=os.path.join(REPO, "target/debug/usher"))
    args = parser.parse_args()
    for needed in (args.wasm, args.usher, os.path.join(REPO, "target/edge-assets", HLS_JS)):
        if not os.path.exists(needed):
            raise SystemExit(f"missing {needed} (see this script's docstring)")
    for address in (EDGE, ORIGIN):
        if not port_free(address):
            raise SystemExit(f"{address[0]}:{address[1]} is in use")

    work = tempfile.mkdtemp(prefix="usher-fastly-")
    origin = viceroy = None
    try:
        stream = make_stream(os.path.join(work, "origin"))
        origin = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "origin.py"), os.path.join(work, "origin"),
             "--port", str(ORIGIN[1])],
            stdout=subprocess.DEVNULL)
        wait_for_port(ORIGIN, origin)
        log_path = os.path.join(work, "viceroy.log")
        with open(log_path, "wb") as log:
            viceroy = start_viceroy(args.viceroy, "fastly.toml", args.wasm, log)
            run_checks(args, stream, log_path)
            stop(viceroy)
            broken = broken_manifest(work)
            viceroy = start_viceroy(args.viceroy, broken, args.wasm, log)
            run_broken_checks(log_path)
    finally:
        stop(viceroy)
        stop(origin)
        shutil.rmtree(work, ignore_errors=True)
    passed, failed = RESULTS.count(True), RESULTS.count(False)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def origin_requests():
    _, _, body = request(f"http://{ORIGIN[0]}:{ORIGIN[1]}/__origin/requests")
    return json.loads(body)


def run_checks(args, stream, log_path):
    page = f"/events/{EVENT}/"
    status, headers, body = request(edge(page))
    check("player page: 200 ok with an ETag",
          status == 200 and headers.get("x-usher-reason") == "ok" and "etag" in headers
          and b"<html" in body.lower(), (status, headers))
    status, headers, _ = request(edge(page), headers={"If-None-Match": headers.get("etag", "")})
    check("player page: 304 not_modified on its ETag",
          status == 304 and headers.get("x-usher-reason") == "not_modified", (status, headers))

    ticket = mint(args.usher, "viewer-1")
    master_url = edge(f"/events/{EVENT}/master.m3u8?ticket={ticket}")
    status, headers, body = request(master_url)
    master = body.decode()
    check("multivariant: 200 ok, an HLS playlist",
          status == 200 and headers.get("x-usher-reason") == "ok"
          and headers.get("content-type") == "application/vnd.apple.mpegurl", (status, master))
    steering = re.search(r'#EXT-X-CONTENT-STEERING:SERVER-URI="([^"]+)",PATHWAY-ID="([^"]+)"',
                         master)
    check("multivariant: Content Steering, on the pathway AS 3320's health table names",
          steering and steering.group(2) == "cdn-a", master)
    variants = uris(master)
    check("multivariant: variants re-pointed at the pathway, with a session token",
          variants and all(v.startswith(f"http://127.0.0.1:7676/events/{EVENT}/")
                           and "__token__=" in v for v in variants)
          and 'PATHWAY-ID="cdn-a"' in master and ticket not in master, master)
    if not variants:
        return

    media_url = variants[0]
    status, headers, body = request(media_url)
    media = body.decode()
    segments = uris(media)
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', media)
    check("media playlist: 200 ok, segments and init section re-pointed with a fresh token",
          status == 200 and headers.get("x-usher-reason") == "ok" and len(segments) == 3
          and all("__token__=" in s for s in segments) and init and "__token__=" in init.group(1),
          (status, media))
    if not segments or not init:
        return

    with open(os.path.join(stream, "360p", "seg000.m4s"), "rb") as f:
        seg_bytes = f.read()
    with open(os.path.join(stream, "360p", "init.mp4"), "rb") as f:
        init_bytes = f.read()
    status, headers, body = request(segments[0])
    check("segment: 200 ok, the origin's bytes, streamed through",
          status == 200 and headers.get("x-usher-reason") == "ok" and body == seg_bytes
          and headers.get("access-control-allow-origin") == "*",
          (status, headers, len(body), len(seg_bytes)))
    status, headers, body = request(init.group(1))
    check("init section: 200 ok, the origin's bytes", status == 200 and body == init_bytes,
          (status, len(body)))
    status, headers, body = request(segments[0], method="HEAD")
    check("segment HEAD: 200 ok, no body", status == 200 and body == b"", (status, len(body)))

    steering_url = urllib.parse.urljoin(master_url, steering.group(1))
    status, headers, body = request(steering_url)
    manifest = json.loads(body) if status == 200 else {}
    check("steering manifest: 200 ok, priority led by cdn-a",
          manifest.get("VERSION") == 1 and manifest.get("PATHWAY-PRIORITY", [None])[0] == "cdn-a",
          (status, body[:300]))

    status, headers, body = request(edge(f"/assets/{HLS_JS}"))
    with open(os.path.join(REPO, "target/edge-assets", HLS_JS), "rb") as f:
        hls_js = f.read()
    check("player library: 200 ok from the asset store, immutable, byte for byte",
          status == 200 and body == hls_js and headers.get("x-usher-reason") == "ok"
          and headers.get("content-type", "").startswith("text/javascript")
          and "immutable" in headers.get("cache-control", ""), (status, headers, len(body)))
    status, headers, _ = request(edge("/assets/hls.js/0.0.0/hls.min.js"))
    check("unknown asset: 404 not_found",
          status == 404 and headers.get("x-usher-reason") == "not_found", (status, headers))

    refusals = [
        ("multivariant without a ticket: 401 no_ticket",
         edge(f"/events/{EVENT}/master.m3u8"), 401, "no_ticket"),
        ("expired ticket: 410 ticket_expired",
         edge(f"/events/{EVENT}/master.m3u8?ticket="
              + mint(args.usher, "viewer-9", now=int(time.time()) - 7200, ttl=60)),
         410, "ticket_expired"),
        ("forged ticket: 403 ticket_bad_signature",
         edge(f"/events/{EVENT}/master.m3u8?ticket={ticket[:-4]}AAAA"), 403,
         "ticket_bad_signature"),
        ("segment without a session token: 401 no_session",
         segments[0].split("?")[0], 401, "no_session"),
        ("segment with a tampered session token: 403 session_bad_signature",
         segments[0][:-4] + ("0000" if not segments[0].endswith("0000") else "1111"), 403,
         "session_bad_signature"),
        ("an event not in the catalog: 404 unknown_event",
         edge("/events/semi-2026/master.m3u8?ticket=" + ticket), 404, "unknown_event"),
        ("an encoded separator: 400 bad_path", edge(f"/events/{EVENT}/360p%2Fseg000.m4s"), 400,
         "bad_path"),
        # The SDK parses URLs by the WHATWG rules, which resolve dot segments before the edge
        # sees the path: this is decided as the multivariant playlist it resolves to.
        ("dot segments are resolved by Fastly's URL parser before the core decides",
         edge(f"/events/{EVENT}/360p/../master.m3u8"), 401, "no_ticket"),
    ]
    for name, url, want_status, want_reason in refusals:
        status, headers, _ = request(url)
        check(name, status == want_status and headers.get("x-usher-reason") == want_reason,
              (status, headers.get("x-usher-reason")))
    status, headers, _ = request(master_url, method="POST", body=b"")
    check("POST on a playlist: 405 method_not_allowed",
          status == 405 and headers.get("x-usher-reason") == "method_not_allowed", status)

    status, headers, _ = request(master_url)
    check("a second screen on a one-screen ticket: 429 too_many_streams",
          status == 429 and headers.get("x-usher-reason") == "too_many_streams",
          (status, headers.get("x-usher-reason")))

    beacon = (b'bs,cid="final",e=ps,sid="6e2fb550",sta=r,ts=1764269150889,v=2\n'
              b'e=ps,sid="6e2fb550",sta=p,ts=1764269152389,v=2\n')
    status, headers, _ = request(edge(f"/events/{EVENT}/cmcd"), method="POST", body=beacon,
                                 headers={"Content-Type": "application/cmcd"})
    check("beacon: 204 ok", status == 204 and headers.get("x-usher-reason") == "ok", status)
    status, headers, _ = request(edge(f"/events/{EVENT}/cmcd"), method="POST",
                                 body=b"x" * (70 * 1024))
    check("oversized beacon: 413 bad_request",
          status == 413 and headers.get("x-usher-reason") == "bad_request", status)

    # The playlist cache: two viewers within the origin's max-age=1 cost one origin request.
    playlist_path = f"/live/{EVENT}/360p/index.m3u8"
    time.sleep(1.2)
    before = origin_requests().count(playlist_path)
    first = request(media_url)
    second = request(media_url)
    after = origin_requests().count(playlist_path)
    check("playlist cache: two viewers, one origin request",
          first[0] == 200 and second[0] == 200 and after - before == 1, (before, after))

    # Stale-if-error: the origin fails after the playlists went stale.
    request(f"http://{ORIGIN[0]}:{ORIGIN[1]}/__origin/fail", method="POST")
    time.sleep(1.2)
    status, headers, body = request(media_url)
    check("origin down: the last good media playlist, 200 stale_on_origin_error",
          status == 200 and headers.get("x-usher-reason") == "stale_on_origin_error"
          and "#EXTINF" in body.decode(), (status, headers.get("x-usher-reason")))
    status, headers, _ = request(media_url)
    check("origin down: the stale copy held for the next viewer",
          status == 200 and headers.get("x-usher-reason") == "stale_on_origin_error", status)
    other = media_url.replace("/360p/index.m3u8", "/720p/index.m3u8")
    status, headers, _ = request(other)
    check("origin down, never cached: 502 origin_error",
          status == 502 and headers.get("x-usher-reason") == "origin_error",
          (status, headers.get("x-usher-reason")))
    status, headers, _ = request(segments[1])
    check("origin down: a segment passes the origin's 503 on, reason origin_error",
          status == 503 and headers.get("x-usher-reason") == "origin_error", status)
    request(f"http://{ORIGIN[0]}:{ORIGIN[1]}/__origin/recover", method="POST")
    time.sleep(1.2)
    status, headers, _ = request(media_url)
    check("origin back: 200 ok again", status == 200 and headers.get("x-usher-reason") == "ok",
          (status, headers.get("x-usher-reason")))

    time.sleep(0.5)  # Viceroy prints log entries as the instance writes them, after the answer.
    access = log_lines(log_path, "usher_access")
    qoe = log_lines(log_path, "usher_qoe")
    check("access log: one line per request, with route, reason, status and duration",
          len(access) >= 25 and all({"route", "reason", "status", "duration_us"} <= a.keys()
                                    for a in access), len(access))
    check("access log: lease taken, then full",
          any(a.get("lease") == "taken" for a in access)
          and any(a.get("lease") == "full" for a in access), [a.get("lease") for a in access])
    check("access log: cache miss, hit and stale all seen",
          {"miss", "hit", "stale"} <= {a.get("cache") for a in access},
          {a.get("cache") for a in access})
    text = open(log_path, encoding="utf-8", errors="replace").read()
    check("access log: never a ticket or a token",
          ticket not in text and segments[0].split("__token__=")[1][:40] not in text)
    check("QoE events: the beacon's two reports, with Fastly's geolocation",
          len([e for e in qoe if e.get("event") == EVENT]) == 2
          and all(e.get("country") == "DE" and e.get("asn") == 3320 for e in qoe), qoe)


def broken_manifest(work):
    """fastly.toml with a session key that is not hex."""
    bad = os.path.join(work, "session-key.txt")
    with open(bad, "w") as f:
        f.write("not hex at all")
    with open(os.path.join(FASTLY, "fastly.toml")) as f:
        manifest = f.read()
    manifest = manifest.replace('file = "local/session-key.txt"', f'file = "{bad}"')
    path = os.path.join(work, "fastly-broken.toml")
    with open(path, "w") as f:
        f.write(manifest)
    return path


def run_broken_checks(log_path):
    for path in (f"/events/{EVENT}/", "/healthz"):
        status, headers, body = request(edge(path))
        check(f"broken configuration: {path} answers 503 config_error",
              status == 503 and headers.get("x-usher-reason") == "config_error"
              and b"session-key" not in body, (status, headers.get("x-usher-reason"), body))
    time.sleep(0.5)
    last = log_lines(log_path, "usher_access")[-1]
    check("broken configuration: the access line names the part, never the value",
          "session-key" in last.get("error", "") and "not hex at all" not in json.dumps(last),
          last)


if __name__ == "__main__":
    sys.exit(main())
