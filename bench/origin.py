#!/usr/bin/env python3
"""The origin's cost against plain FFmpeg, its segment publish latency, and glass-to-glass latency.

Three measurements, all on 127.0.0.1, every process stopped before the script exits:

1. Packaging overhead. (a) `usher origin --source test` with the default four-rung ladder: one
   FFmpeg (one decode, four scaled libx264 encodes, AAC) writing fragmented MP4 over TCP to the
   origin, which packages it into LL-HLS parts and segments, writes segments to disk and serves
   them; against (b) plain `ffmpeg` with the same inputs, filter graph and encoder settings,
   writing the same four rungs and the audio with FFmpeg's own HLS muxer (fMP4 segments of the
   same duration, written to disk). (b)'s command line is (a)'s, as the origin ran it: the origin
   is given a wrapper as its `--ffmpeg` (this script, `--as-ffmpeg`) that records its arguments
   and execs the real FFmpeg in its place; (b) swaps each output's `-f mp4 -frag_duration ...
   -movflags ... tcp://...` for `-f hls ...` and a file, and keeps every other argument (so the
   burned-in clock, the forced keyframes and `-progress` are the same work). (b) runs through the
   same wrapper, so both pay its start. The cost is the CPU time (user + system) of the whole
   process tree: the origin and its FFmpeg for (a), FFmpeg for (b).

   - live: both real time (`-re`), so speed is pinned at 1.0 and the cost is CPU per second of
     media (frames / fps, counted between two of FFmpeg's `-progress` reports), over a window
     after a warm-up, in alternating rounds (a b, b a, ...);
   - paired: (a) and (b) live at the same time over the same window, so that whatever else the
     machine does weighs on both alike (on a shared 2-core machine this is the figure to read;
     both may then fall below real time, which the table shows);
   - fast: the same on a fixed input as fast as it goes: the wrapper drops `-re` and bounds the
     generated input with `-t`, for (a) and (b) alike. The origin is made to do this without a
     product change: it packages whatever its FFmpeg writes (media ahead of the wall clock is
     published under its epoch-locked names; the publish latency is then meaningless and not
     read). When that one FFmpeg exits, the origin restarts it as it would a crash: the wrapper
     then execs `sleep` instead, and the origin is stopped.

2. Segment publish latency p50 and p99 per rendition, from the origin's /metrics
   (`usher_origin_segment_publish_latency_seconds`) at the end of each live (a) window and of
   the glass-to-glass run.

3. Glass-to-glass: hls.js plays the live LL-HLS output in headless Chromium
   (bench/origin-glass.mjs) and captures frames with the instant each was due on screen; the
   test source burns the UTC wall clock to the millisecond into every frame, read back with
   tesseract. Glass-to-glass = display instant - burned-in instant, beside the estimate against
   EXT-X-PROGRAM-DATE-TIME from the same frames.

Usage: python3 bench/origin.py [--rounds 3] [--seconds 30] [--warmup 8] [--fast-seconds 30]
           [--samples 20] [--skip live,paired,fast,glass] [--no-build] [--keep DIR]
Needs: a release build of usher (built unless --no-build; CARGO_TARGET_DIR is honoured),
Debian's ffmpeg, chromium and tesseract-ocr (installed with apt-get when missing and apt is
there), node and `npm ci` in edge/core/tests/browser. Prints tables in Markdown.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
USHER = os.path.join(TARGET, "release/usher")
GLASS = os.path.join(ROOT, "bench/origin-glass.mjs")
BROWSER_TESTS = os.path.join(ROOT, "edge/core/tests/browser")
CHANNEL = "bench"
TICK = os.sysconf("SC_CLK_TCK")
# The wrapper's environment: where it records, what it does, which FFmpeg it runs.
ENV_RECORD = "USHER_BENCH_RECORD"
ENV_FAST = "USHER_BENCH_FAST_SECONDS"
ENV_FFMPEG = "USHER_BENCH_FFMPEG"


# --- the wrapper the origin runs as its FFmpeg -------------------------------------------------

def fast_args(args, seconds):
    """FFmpeg's arguments as fast as it goes on a fixed input: no `-re`, each input bounded to
    `seconds` (an input option, before its `-i`)."""
    out = []
    for arg in args:
        if arg == "-re":
            continue
        if arg == "-i":
            out += ["-t", str(seconds)]
        out.append(arg)
    return out


def as_ffmpeg(args):
    """Runs as the origin's `--ffmpeg`: records the arguments (and when), then becomes FFmpeg
    (exec, so the process the origin supervises, signals and reaps is FFmpeg itself)."""
    record = os.environ[ENV_RECORD]
    fast = os.environ.get(ENV_FAST)
    os.makedirs(record, exist_ok=True)
    runs = len([n for n in os.listdir(record) if n.startswith("run-")])
    if fast and runs > 0:
        # The one fast run is over and the origin restarts its encoder: stand in for it, doing
        # nothing, until the benchmark stops the origin.
        os.execvp("sleep", ["sleep", "600"])
    if fast:
        args = fast_args(args, fast)
    with open(os.path.join(record, f"run-{runs}.json"), "w") as f:
        json.dump({"pid": os.getpid(), "started": time.time(), "args": args}, f)
    ffmpeg = os.environ.get(ENV_FFMPEG, "ffmpeg")
    os.execvp(ffmpeg, [ffmpeg, *args])


def write_wrapper(work):
    path = os.path.join(work, "ffmpeg-wrapper")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\nexec "{sys.executable}" "{os.path.abspath(__file__)}" '
                '--as-ffmpeg "$@"\n')
    os.chmod(path, 0o755)
    return path


# --- (b): the origin's FFmpeg command line with FFmpeg's own HLS muxer -------------------------

def hls_args(args, out_dir):
    """(a)'s arguments with each fragmented-MP4 output (`-f mp4 -frag_duration F -movflags M
    URL`) replaced by an HLS output of fMP4 segments of the origin's segment duration (its GOP
    over its frame rate, as encode.rs sets them) in its own directory under `out_dir`. The
    outputs are the rungs in ladder order, then the audio."""
    graph = args[args.index("-filter_complex") + 1]
    fps = re.match(r"\[0:v:0\]fps=([\d/]+)", graph).group(1)
    num, _, den = fps.partition("/")
    gop = int(args[args.index("-g") + 1])
    segment = gop * int(den or 1) / int(num)
    out, i, names, mapped = [], 0, [], None
    while i < len(args):
        if args[i] == "-map":
            mapped = args[i + 1]
        if args[i] == "-f" and args[i + 1] == "mp4":
            i += 2
            while args[i] in ("-frag_duration", "-movflags"):
                i += 2
            if not args[i].startswith("tcp://"):
                raise ValueError(f"expected a tcp:// output after -f mp4, found {args[i]!r}")
            i += 1
            name = f"rung{len(names)}" if mapped.startswith("[v") else "audio"
            names.append(name)
            d = os.path.join(out_dir, name)
            os.makedirs(d, exist_ok=True)
            out += ["-f", "hls", "-hls_time", f"{segment:g}", "-hls_segment_type", "fmp4",
                    "-hls_list_size", "6", "-hls_flags", "independent_segments",
                    "-hls_fmp4_init_filename", "init.mp4",
                    "-hls_segment_filename", os.path.join(d, "%d.m4s"),
                    os.path.join(d, "index.m3u8")]
        else:
            out.append(args[i])
            i += 1
    if not names or names[-1] != "audio":
        raise ValueError(f"unexpected outputs: {names}")
    return out


# --- processes and /proc ------------------------------------------------------------------------

def stat(pid):
    """(utime + stime, cutime + cstime, state) of a process in seconds, or None once it is gone.
    cutime counts the children it has reaped, which is how an exited FFmpeg's whole CPU time is
    read from the origin that waited for it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    return ((int(fields[11]) + int(fields[12])) / TICK,
            (int(fields[13]) + int(fields[14])) / TICK, fields[0])


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def metrics(base):
    """The origin's /metrics as {(name, labels): value}."""
    _, text = http_get(base + "/metrics")
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)$", line)
        if m:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(ms, name, **labels):
    want = tuple(sorted(labels.items()))
    return ms.get((name, want))


def reap(process, log):
    """Kills whatever is left of `process`'s group, waits for it, and closes its log."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    log.close()


class Origin:
    """One `usher origin` with the wrapper as its FFmpeg, in its own process group."""

    def __init__(self, work, wrapper, name, fast=None):
        self.record = os.path.join(work, name, "record")
        data = os.path.join(work, name, "data")
        os.makedirs(data)
        env = {**os.environ, ENV_RECORD: self.record, ENV_FFMPEG: shutil.which("ffmpeg")}
        env.pop(ENV_FAST, None)
        if fast:
            env[ENV_FAST] = str(fast)
        self.log = open(os.path.join(work, name, "origin.log"), "w")
        self.process = subprocess.Popen(
            [USHER, "origin", "--channel", CHANNEL, "--source", "test", "--listen",
             "127.0.0.1:0", "--data", data, "--ffmpeg", wrapper],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, start_new_session=True)
        line = self.process.stdout.readline()
        m = re.search(r" on (http://127\.0\.0\.1:\d+)/", line)
        if not m:
            self.stop()
            sys.exit(f"usher origin did not say where it listens: {line!r}; see {self.log.name}")
        self.base = m.group(1)
        # Drain anything else it prints.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def run(self, index=0, timeout=30):
        """The wrapper's record of FFmpeg run `index`, once it has started."""
        path = os.path.join(self.record, f"run-{index}.json")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"usher origin exited ({self.process.returncode}); see {self.log.name}")
            try:
                with open(path) as f:
                    return json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(0.01)
        sys.exit(f"usher origin started no FFmpeg within {timeout} s; see {self.log.name}")

    def zero_ms(self):
        """The encoder's zero (Unix ms) the origin logged for its newest FFmpeg run: frame N of
        that run stands for the instant zero + N / fps, which the test source burns in."""
        with open(self.log.name) as f:
            zeros = re.findall(r"zero at (\d+)\)", f.read())
        return int(zeros[-1]) if zeros else None

    def wait_healthy(self, timeout=60):
        deadline = time.time() + timeout
        last = "no answer"
        while time.time() < deadline:
            try:
                status, body = http_get(self.base + "/healthz", timeout=2)
                if status == 200:
                    return
            except urllib.error.HTTPError as error:
                last = f"{error.code} {error.read().decode().strip()}"
            except OSError as error:
                last = str(error)
            time.sleep(0.25)
        sys.exit(f"usher origin not healthy within {timeout} s: {last}; see {self.log.name}")

    def stop(self):
        """SIGTERM to the origin (it stops its FFmpeg: `q`, then a kill), then whatever is left
        of its process group is killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print("usher origin did not stop within 15 s of SIGTERM; killed", file=sys.stderr)
        reap(self.process, self.log)


class Plain:
    """(b): FFmpeg run through the same wrapper with the HLS muxer, its `-progress` read."""

    def __init__(self, work, wrapper, name, args):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "ffmpeg.log"), "w")
        env = {**os.environ, ENV_RECORD: os.path.join(self.dir, "record"),
               ENV_FFMPEG: shutil.which("ffmpeg")}
        env.pop(ENV_FAST, None)
        self.progress = {}
        self.block = threading.Condition()
        self.blocks = 0
        self.started = time.time()
        self.process = subprocess.Popen(
            [wrapper, *hls_args(args, os.path.join(self.dir, "hls"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
            start_new_session=True)
        threading.Thread(target=self.read_progress, daemon=True).start()

    def read_progress(self):
        for line in self.process.stdout:
            key, _, value = line.strip().partition("=")
            self.progress[key] = value
            if key == "progress":
                with self.block:
                    self.blocks += 1
                    self.block.notify_all()

    def frames(self):
        return int(self.progress.get("frame", "0") or 0)

    def next_block(self):
        """Waits for FFmpeg's next `-progress` block (one a second) and returns its frame count:
        a window bounded by blocks counts its frames exactly."""
        with self.block:
            seen = self.blocks
            if not self.block.wait_for(lambda: self.blocks > seen, timeout=5):
                sys.exit(f"plain ffmpeg reported no progress for 5 s; see {self.log.name}")
            return self.frames()

    def wait(self):
        """Waits for FFmpeg to exit; returns (wall seconds, CPU seconds) from its rusage."""
        _, status, usage = os.wait4(self.process.pid, 0)
        wall = time.time() - self.started
        self.process.returncode = os.waitstatus_to_exitcode(status)
        if self.process.returncode != 0:
            sys.exit(f"plain ffmpeg exited {self.process.returncode}; see {self.log.name}")
        return wall, usage.ru_utime + usage.ru_stime

    def stop(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("q")
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        reap(self.process, self.log)


# --- the measurements ---------------------------------------------------------------------------

def fps_of(args):
    graph = args[args.index("-filter_complex") + 1]
    num, _, den = re.match(r"\[0:v:0\]fps=([\d/]+)", graph).group(1).partition("/")
    return int(num) / int(den or 1)


def next_frames(origin):
    """The origin's /metrics just after its frame count moves (it is FFmpeg's `-progress`,
    once a second): a window bounded by two such moments counts its frames exactly."""
    first = metric(metrics(origin.base), "usher_origin_frames", channel=CHANNEL)
    deadline = time.time() + 5
    while time.time() < deadline:
        time.sleep(0.02)
        m = metrics(origin.base)
        if metric(m, "usher_origin_frames", channel=CHANNEL) != first:
            return m
    sys.exit(f"the origin's frame count did not move for 5 s; see {origin.log.name}")


def publish_latency(ms):
    """{rendition: {"0.5": s, "0.99": s, "count": n}} from a /metrics reading."""
    latency = {}
    for (name, labels), value in ms.items():
        if name == "usher_origin_segment_publish_latency_seconds":
            d = dict(labels)
            latency.setdefault(d["rendition"], {})[d["quantile"]] = value
        elif name == "usher_origin_segment_publish_latency_seconds_count":
            latency.setdefault(dict(labels)["rendition"], {})["count"] = value
    return latency


def sample_origin(origin, run):
    """(a) at the moment its frame count moves: the origin's and its FFmpeg's CPU seconds."""
    m = next_frames(origin)
    t, u, f = time.time(), stat(origin.process.pid), stat(run["pid"])
    if f is None or f[2] == "Z":
        sys.exit(f"the origin's FFmpeg has ended; see {origin.log.name}")
    return {"t": t, "origin": u[0], "ffmpeg": f[0], "metrics": m, "zero": origin.zero_ms(),
            "frames": metric(m, "usher_origin_frames", channel=CHANNEL)}


def sample_plain(plain):
    """(b) at its next `-progress` block: FFmpeg's CPU seconds."""
    if plain.process.poll() is not None:
        sys.exit(f"plain ffmpeg exited ({plain.process.returncode}); see {plain.log.name}")
    frames = plain.next_block()
    return {"t": time.time(), "cpu": stat(plain.process.pid)[0], "frames": frames}


def origin_window(run, s0, s1):
    """(a)'s figures between two samples."""
    counter = lambda s: metric(s["metrics"], "usher_origin_encoder_restarts_total",
                               channel=CHANNEL)
    return {
        "wall": s1["t"] - s0["t"],
        "cpu": (s1["origin"] - s0["origin"]) + (s1["ffmpeg"] - s0["ffmpeg"]),
        "cpu_origin": s1["origin"] - s0["origin"],
        "media": (s1["frames"] - s0["frames"]) / fps_of(run["args"]),
        # How far behind its own clock the encoder runs: when frame N has just been encoded,
        # against the instant it stands for (zero + N / fps). A constant part of it is FFmpeg's
        # start-up: `-re` paces frames from when FFmpeg starts reading, the zero was chosen
        # before it was spawned.
        "lag": (s1["t"] - (s1["zero"] / 1000 + s1["frames"] / fps_of(run["args"])))
        if s1["zero"] else None,
        "restarts": counter(s1) - counter(s0),
        "latency": publish_latency(s1["metrics"]),
        "args": run["args"],
    }


def plain_window(args, s0, s1):
    return {"wall": s1["t"] - s0["t"], "cpu": s1["cpu"] - s0["cpu"],
            "media": (s1["frames"] - s0["frames"]) / fps_of(args)}


def live_usher(work, wrapper, name, warmup, seconds):
    """(a) live: CPU of the origin and its FFmpeg over about `seconds` after `warmup` seconds
    of the FFmpeg running (and the channel healthy)."""
    origin = Origin(work, wrapper, name)
    try:
        run = origin.run()
        origin.wait_healthy()
        time.sleep(max(0.0, run["started"] + warmup - time.time()))
        s0 = sample_origin(origin, run)
        time.sleep(max(0.0, seconds - 1))
        return origin_window(run, s0, sample_origin(origin, run))
    finally:
        origin.stop()


def live_plain(work, wrapper, name, args, warmup, seconds):
    """(b) live: CPU of plain FFmpeg over the same kind of window."""
    plain = Plain(work, wrapper, name, args)
    try:
        time.sleep(warmup)
        s0 = sample_plain(plain)
        time.sleep(max(0.0, seconds - 1))
        return plain_window(args, s0, sample_plain(plain))
    finally:
        plain.stop()


def paired(work, wrapper, name, warmup, seconds):
    """(a) and (b) live at the same time, over the same window: whatever else the machine is
    doing, both pay for it alike. (b) is started on (a)'s command line as soon as the origin
    has run its FFmpeg."""
    origin = Origin(work, wrapper, f"{name}-a")
    plain = None
    try:
        run = origin.run()
        plain = Plain(work, wrapper, f"{name}-b", run["args"])
        origin.wait_healthy()
        time.sleep(max(0.0, run["started"] + warmup - time.time()))
        a0, b0 = sample_origin(origin, run), sample_plain(plain)
        time.sleep(max(0.0, seconds - 2))
        a1, b1 = sample_origin(origin, run), sample_plain(plain)
        return origin_window(run, a0, a1), plain_window(run["args"], b0, b1)
    finally:
        if plain:
            plain.stop()
        origin.stop()


def fast_usher(work, wrapper, name, seconds):
    """(a) fast: the origin with one FFmpeg on `seconds` of input as fast as it goes; the CPU of
    the origin from that FFmpeg's start to its exit, plus FFmpeg's own (reaped by the origin)."""
    origin = Origin(work, wrapper, name, fast=seconds)
    try:
        run = origin.run()
        ffmpeg = run["pid"]
        u0 = stat(origin.process.pid)
        while True:
            s = stat(ffmpeg)
            if s is None or s[2] == "Z":
                break
            if origin.process.poll() is not None:
                sys.exit(f"usher origin exited; see {origin.log.name}")
            time.sleep(0.01)
        ended = time.time()
        # Wait until the origin has reaped it: its CPU time moves into the origin's cutime.
        deadline = time.time() + 10
        while time.time() < deadline:
            u1 = stat(origin.process.pid)
            if u1[1] > u0[1]:
                break
            time.sleep(0.01)
        else:
            sys.exit("the origin did not reap its FFmpeg within 10 s")
        segments = metrics(origin.base)
        published = sum(v for (n, _), v in segments.items()
                        if n == "usher_origin_segments_published_total")
        return {"wall": ended - run["started"], "cpu": (u1[0] - u0[0]) + (u1[1] - u0[1]),
                "cpu_origin": u1[0] - u0[0], "args": run["args"], "segments": published}
    finally:
        origin.stop()


def fast_plain(work, wrapper, name, args):
    plain = Plain(work, wrapper, name, args)
    try:
        wall, cpu = plain.wait()
        return {"wall": wall, "cpu": cpu, "frames": plain.frames()}
    finally:
        plain.stop()


def ensure_tesseract():
    if shutil.which("tesseract"):
        return
    if shutil.which("apt-get"):
        print("installing tesseract-ocr from Debian's packages", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "tesseract-ocr"], check=True, env=env)
    if not shutil.which("tesseract"):
        sys.exit("tesseract is required for glass-to-glass (Debian: apt-get install tesseract-ocr)")


CLOCK = re.compile(r"(\d{2}):?(\d{2}):?(\d{2})[.:,]?(\d{3})")


def ocr_clock(png, display_ms):
    """The burned-in UTC time of day in the image, as Unix ms on the day of `display_ms` (the
    day before when the clock reads later than the display instant's time of day by hours: the
    frame was from before midnight), or None when tesseract does not read a clock."""
    out = subprocess.run(
        ["tesseract", png, "stdout", "--psm", "7", "-c",
         "tessedit_char_whitelist=0123456789:."],
        capture_output=True, text=True).stdout.strip().replace(" ", "")
    m = CLOCK.search(out)
    if not m:
        return None, out
    h, mi, s, ms = (int(g) for g in m.groups())
    if h > 23 or mi > 59 or s > 59:
        return None, out
    day = display_ms - display_ms % 86_400_000
    t = day + ((h * 60 + mi) * 60 + s) * 1000 + ms
    if t - display_ms > 43_200_000:
        t -= 86_400_000
    return t, out


def glass(work, wrapper, samples):
    """Glass-to-glass on a live origin with hls.js, and the origin's publish latency meanwhile."""
    origin = Origin(work, wrapper, "glass")
    try:
        origin.run()
        origin.wait_healthy()
        out_dir = os.path.join(work, "glass", "frames")
        proc = subprocess.run(
            ["node", GLASS, "--master", f"{origin.base}/{CHANNEL}/master.m3u8", "--out", out_dir,
             "--samples", str(samples)],
            capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            sys.exit(f"origin-glass.mjs failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        after_m = metrics(origin.base)
    finally:
        origin.stop()
    rows = []
    for s in result["samples"]:
        burned, text = ocr_clock(s["png"], s["displayMs"])
        g2g = None if burned is None else (s["displayMs"] - burned) / 1000
        # A misread digit shows as an absurd figure: anything outside 0..30 s is not a reading.
        if g2g is not None and not 0 <= g2g <= 30:
            g2g = None
        rows.append({**s, "ocr": text, "g2g": g2g})
    with open(os.path.join(work, "glass", "samples.json"), "w") as f:
        json.dump(rows, f, indent=1)
    latency = publish_latency(after_m)
    return {"rows": rows, "state": {k: v for k, v in result.items() if k != "samples"},
            "latency": latency, "speed": metric(after_m, "usher_origin_encode_speed",
                                                channel=CHANNEL)}


def quantile(xs, q):
    """Nearest rank, as the origin's /metrics computes its quantiles."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--as-ffmpeg":
        as_ffmpeg(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30, help="live window per run")
    parser.add_argument("--warmup", type=float, default=8,
                        help="seconds of FFmpeg running before a live window starts")
    parser.add_argument("--fast-seconds", type=int, default=30,
                        help="seconds of input for the fast runs")
    parser.add_argument("--samples", type=int, default=20, help="glass-to-glass frames")
    parser.add_argument("--skip", default="",
                        help="comma-separated: live, paired, fast, glass")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--keep", help="keep the work directory (frames, logs) here")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if skip - {"live", "paired", "fast", "glass"}:
        sys.exit("--skip takes some of live, paired, fast, glass")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--locked", "--quiet", "--release", "-p", "usher"],
                       cwd=ROOT, check=True)
    if not os.path.exists(USHER):
        sys.exit(f"missing {USHER} (cargo build --release -p usher)")
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg is required (Debian: apt-get install ffmpeg)")
    if "glass" not in skip:
        if not shutil.which("node") or not os.path.isdir(
                os.path.join(BROWSER_TESTS, "node_modules/playwright-core")):
            sys.exit("glass-to-glass needs node and `npm ci` in edge/core/tests/browser "
                     "(or --skip glass)")
        ensure_tesseract()

    work = args.keep or tempfile.mkdtemp(prefix="usher-origin-bench-")
    os.makedirs(work, exist_ok=True)
    wrapper = write_wrapper(work)
    ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                                    text=True).stdout.split("\n")[0]
    try:
        live = {"a": [], "b": []}
        recorded = None
        if "live" not in skip:
            for r in range(args.rounds):
                order = "ab" if r % 2 == 0 or recorded is None else "ba"
                for which in order:
                    name = f"live-{r}-{which}"
                    print(f"round {r + 1}/{args.rounds}: live ({which})", file=sys.stderr)
                    if which == "a":
                        res = live_usher(work, wrapper, name, args.warmup, args.seconds)
                        recorded = res["args"]
                    else:
                        res = live_plain(work, wrapper, name, recorded, args.warmup,
                                         args.seconds)
                    live[which].append(res)
        pairs = {"a": [], "b": []}
        if "paired" not in skip:
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}: paired", file=sys.stderr)
                a, b = paired(work, wrapper, f"paired-{r}", args.warmup, args.seconds)
                pairs["a"].append(a)
                pairs["b"].append(b)
        fast = {"a": [], "b": []}
        if "fast" not in skip:
            recorded_fast = None
            for r in range(args.rounds):
                order = "ab" if r % 2 == 0 or recorded_fast is None else "ba"
                for which in order:
                    name = f"fast-{r}-{which}"
                    print(f"round {r + 1}/{args.rounds}: fast ({which})", file=sys.stderr)
                    if which == "a":
                        res = fast_usher(work, wrapper, name, args.fast_seconds)
                        recorded_fast = res["args"]
                    else:
                        res = fast_plain(work, wrapper, name, recorded_fast)
                    fast[which].append(res)
        g = None
        if "glass" not in skip:
            print("glass to glass", file=sys.stderr)
            g = glass(work, wrapper, args.samples)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n{ffmpeg_version}; usher {USHER}")
    if live["a"]:
        report_live(live, args, "one at a time, alternating")
        report_latency(live)
    if pairs["a"]:
        report_live(pairs, args, "both at once, over the same window")
    if fast["a"]:
        report_fast(fast, args)
    if g:
        report_glass(g, args)


def report_live(live, args, how):
    print(f"\n### Live (real time), {how}: {args.rounds} rounds of a {args.seconds:g} s "
          f"window after {args.warmup:g} s\n")
    print("| round | (a) usher origin CPU s / media s | of which the origin process | "
          "(a) media s / wall s | (b) plain ffmpeg HLS CPU s / media s | (b) media s / wall s "
          "| (a) / (b) | (a)'s FFmpeg alone / (b) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    ratios, origin_share = [], []
    for r, (a, b) in enumerate(zip(live["a"], live["b"])):
        # Per second of media: the window's CPU over the media it encoded (frames / fps).
        ca, cb = a["cpu"] / a["media"], b["cpu"] / b["media"]
        co = a["cpu_origin"] / a["media"]
        ratios.append(ca / cb)
        origin_share.append(a["cpu_origin"] / a["cpu"])
        print(f"| {r + 1} | {ca:.3f} | {co:.3f} | {a['media'] / a['wall']:.3f} | {cb:.3f} | "
              f"{b['media'] / b['wall']:.3f} | {ca / cb:.3f}x | {(ca - co) / cb:.3f}x |")
    print(f"\nMedian (a) / (b): {statistics.median(ratios):.3f}x "
          f"(min {min(ratios):.3f}x, max {max(ratios):.3f}x); the origin process's share of "
          f"(a)'s CPU: median {100 * statistics.median(origin_share):.2f} %; encoder restarts "
          f"in (a) windows: {sum(a['restarts'] for a in live['a']):g}")


def report_latency(live):
    print("\n### Segment publish latency, live (a) runs (from /metrics, "
          "over each run's segments)\n")
    print("| rendition | p50 per round (s) | p99 per round (s) | segments per round |")
    print("|---|---|---|---|")
    lags = " / ".join("-" if a["lag"] is None else f"{a['lag']:.3f}" for a in live["a"])
    print(f"| (the encoder's lag behind its clock at the window's end) | {lags} | | |")
    names = list(live["a"][0]["latency"])
    for n in names:
        cols = [[a["latency"].get(n, {}).get(k) for a in live["a"]]
                for k in ("0.5", "0.99", "count")]
        fmt = lambda xs, f: " / ".join("-" if x is None else f.format(x) for x in xs)
        print(f"| {n} | {fmt(cols[0], '{:.3f}')} | {fmt(cols[1], '{:.3f}')} | "
              f"{fmt(cols[2], '{:.0f}')} |")


def report_fast(fast, args):
    print(f"\n### As fast as it goes: {args.fast_seconds} s of the test source, "
          f"{args.rounds} rounds\n")
    print("| round | (a) wall s | (a) CPU s | of which the origin process | (b) wall s | "
          "(b) CPU s | CPU (a) / (b) | wall (a) / (b) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    cpu, wall = [], []
    for r, (a, b) in enumerate(zip(fast["a"], fast["b"])):
        cpu.append(a["cpu"] / b["cpu"])
        wall.append(a["wall"] / b["wall"])
        print(f"| {r + 1} | {a['wall']:.2f} | {a['cpu']:.2f} | {a['cpu_origin']:.2f} | "
              f"{b['wall']:.2f} | {b['cpu']:.2f} | {cpu[-1]:.3f}x | {wall[-1]:.3f}x |")
    print(f"\nMedian CPU (a) / (b): {statistics.median(cpu):.3f}x; wall: "
          f"{statistics.median(wall):.3f}x; speed of (b): "
          f"{args.fast_seconds / statistics.median(b['wall'] for b in fast['b']):.2f}x real "
          f"time; segments (a) published (all renditions): "
          + " / ".join(f"{a['segments']:.0f}" for a in fast["a"]))


def report_glass(g, args):
    rows = g["rows"]
    read = [r["g2g"] for r in rows if r["g2g"] is not None]
    pdt = [r["pdtLatencyMs"] / 1000 for r in rows if r["pdtLatencyMs"] is not None]
    print(f"\n### Glass to glass, hls.js (low-latency mode) in headless Chromium, "
          f"{len(rows)} frames\n")
    print("| measure | samples | median s | p95 s | min s | max s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, xs in [("display instant − burned-in clock (OCR)", read),
                     ("now − PROGRAM-DATE-TIME of the playing position", pdt)]:
        if xs:
            print(f"| {name} | {len(xs)} | {statistics.median(xs):.3f} | "
                  f"{quantile(xs, 0.95):.3f} | {min(xs):.3f} | {max(xs):.3f} |")
        else:
            print(f"| {name} | 0 | - | - | - | - |")
    diffs = [r["g2g"] - r["pdtLatencyMs"] / 1000 for r in rows
             if r["g2g"] is not None and r["pdtLatencyMs"] is not None]
    if diffs:
        print(f"\nOCR − PDT per frame: median {statistics.median(diffs):+.3f} s "
              f"(min {min(diffs):+.3f}, max {max(diffs):+.3f})")
    unread = [r["ocr"] for r in rows if r["g2g"] is None]
    heights = sorted({r["height"] for r in rows})
    print(f"Frames the OCR did not read: {len(unread)}{(' ' + repr(unread[:5])) if unread else ''}"
          f"; video heights played: {heights}; hls.js stalls {g['state']['stalls']}, fatal "
          f"errors {len(g['state']['fatal'])}, levels {g['state']['levels']}; encode speed at "
          f"the end {g['speed']}")
    print("\nPublish latency during the glass-to-glass run (s): " + "; ".join(
        f"{n} p50 {v.get('0.5', float('nan')):.3f} p99 {v.get('0.99', float('nan')):.3f} "
        f"({v.get('count', 0):.0f})" for n, v in g["latency"].items()))


if __name__ == "__main__":
    main()
