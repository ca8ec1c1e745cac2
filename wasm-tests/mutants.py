#!/usr/bin/env python3
"""Breaks each edge adapter on purpose and checks that the runtime suite notices.

A conformance suite that passes a broken adapter is worth nothing, so this is its own test. For
each mutation below: apply it to the adapter's source (the text it replaces must be there
exactly once, or the mutation is stale and that is an error too), rebuild that platform's
artifact, run wasm-tests' runtime suite, and expect it to FAIL with that runtime named in the
failures. The source is restored and the artifact rebuilt whatever happens.

Each mutation drops the session token from the URIs the edge writes into playlists (the
parameter is renamed on the way out), the example of a platform-only bug: every native test
passes, and every viewer of that CDN stalls on the first segment.

Usage: make mutants (which sets the tool paths this needs). Prints one line per mutation and
`N caught, M missed`; exits 1 if any mutation was missed.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cargo(*args):
    """A cargo command, its own flags before any `--` (after it, they would be the test's)."""
    args = list(args)
    at = args.index("--") if "--" in args else len(args)
    return ["cargo", *args[:at], "--locked", "--quiet", *args[at:]]


BUILD = {
    "wasmtime": cargo("build", "-p", "usher-edge-wasi-http", "--release", "--target", "wasm32-wasip2"),
    "viceroy": cargo("build", "-p", "usher-edge-fastly", "--profile", "release-fastly", "--target", "wasm32-wasip1"),
    "workerd": None,  # worker-build, below
}

DROP = '.replace("__token__=", "dropped=")'

MUTATIONS = [
    (
        "wasmtime",
        "edge/wasi-http/src/convert.rs",
        "        response.map(Body::from)\n",
        "        response.map(|b| Body::from(Bytes::from(String::from_utf8_lossy(&b)"
        + DROP + ".into_bytes())))\n",
    ),
    (
        "viceroy",
        "edge/fastly/src/handler.rs",
        "        out.set_body(body.as_ref());\n",
        "        out.set_body(String::from_utf8_lossy(&body)" + DROP + ".into_bytes());\n",
    ),
    (
        "workerd",
        "edge/cloudflare/src/convert.rs",
        "            builder.fixed(body.to_vec())\n",
        "            builder.fixed(String::from_utf8_lossy(&body)" + DROP + ".into_bytes())\n",
    ),
]


def build(runtime):
    if BUILD[runtime] is not None:
        subprocess.run(BUILD[runtime], cwd=ROOT, check=True)
    else:
        subprocess.run([os.environ.get("WORKER_BUILD", "worker-build"), "--release", "--locked"],
                       cwd=os.path.join(ROOT, "edge/cloudflare"), check=True,
                       stdout=subprocess.DEVNULL)


def main():
    caught = missed = 0
    for runtime, path, old, new in MUTATIONS:
        full = os.path.join(ROOT, path)
        with open(full) as f:
            source = f.read()
        if source.count(old) != 1:
            print(f"STALE {runtime}: {path} no longer has the text this mutation replaces")
            missed += 1
            continue
        try:
            with open(full, "w") as f:
                f.write(source.replace(old, new))
            build(runtime)
            run = subprocess.run(
                cargo("test", "-p", "usher-wasm-tests", "--test", "all", "--", "runtimes::"),
                cwd=ROOT, capture_output=True, text=True)
            output = run.stdout + run.stderr
            named = [line for line in output.splitlines() if line.startswith(f"{runtime} ")]
            if run.returncode != 0 and len(named) > 1:
                caught += 1
                failed = [l for l in named if "failed" in l]
                print(f"caught {runtime} ({path}): {failed[0].strip() if failed else named[0]}")
            else:
                missed += 1
                log = os.path.join(ROOT, "target", f"mutant-{runtime}.log")
                with open(log, "w") as f:
                    f.write(output)
                print(f"MISSED {runtime} ({path}): the suite exited {run.returncode} "
                      f"without failing {runtime} (its output: {log})")
        finally:
            with open(full, "w") as f:
                f.write(source)
            build(runtime)
    print(f"{caught} caught, {missed} missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
