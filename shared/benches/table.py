#!/usr/bin/env python3
"""Prints the benchmark table (Markdown) from criterion's results of the last `cargo bench`.

Each group's first-named function is Usher's; every other function in the group is a baseline
measured in the same run, and the table gives Usher's time as a ratio of each. Usage:

    python3 shared/benches/table.py [TARGET_DIR]

Groups and their roles are listed below; a group missing from the results is reported as such.
"""

import json
import pathlib
import sys

GROUPS = [
    # (group, ours, [(baseline, role, target for the ratio)])
    ("verify_edgeauth", "usher_verify", [("hmac_sha256_floor", "floor", "<= 1.5x")]),
    ("verify_jwt", "usher_verify", [("hmac_sha256_floor", "floor", "<= 1.5x")]),
    ("rewrite_multivariant", "usher_rewrite",
     [("copy_bytes", "floor", "-"), ("m3u8_rs_parse_write", "peer", "< 1x")]),
    ("rewrite_ll_hls_media", "usher_rewrite",
     [("copy_bytes", "floor", "-"), ("m3u8_rs_parse_write", "peer", "< 1x")]),
    # The edge core's whole decision beside the parts it cannot avoid (edge/core/benches).
    ("edge_multivariant", "usher_decide_finish",
     [("ticket_verify_part", "part", "-"), ("rewrite_part", "part", "-")]),
    ("edge_media", "usher_decide_finish", [("rewrite_part", "part", "-")]),
    ("edge_segment", "usher_decide", [("session_verify_part", "part", "-")]),
]


def time_ns(root, group, function):
    """Criterion's headline estimate: the slope of its linear sampling (what it prints as
    `time:`), or the mean when it sampled flat."""
    path = root / "criterion" / group / function / "new" / "estimates.json"
    if not path.exists():
        return None
    estimates = json.loads(path.read_text())
    return (estimates.get("slope") or estimates["mean"])["point_estimate"]


def fmt_ns(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target")
    print("| benchmark | usher | baseline | baseline time | ratio | target |")
    print("|---|---|---|---|---|---|")
    missing = []
    for group, ours, baselines in GROUPS:
        mine = time_ns(root, group, ours)
        if mine is None:
            missing.append(group)
            continue
        for name, role, target in baselines:
            base = time_ns(root, group, name)
            if base is None:
                missing.append(f"{group}/{name}")
                continue
            print(f"| {group} | {fmt_ns(mine)} | {name} ({role}) | {fmt_ns(base)} "
                  f"| {mine / base:.2f}x | {target} |")
    if missing:
        print(f"\nnot measured in this run: {', '.join(missing)}", file=sys.stderr)


if __name__ == "__main__":
    main()
