#!/usr/bin/env python3
"""Fetch the pinned provider artifacts and (re)derive the schemas our modules are checked against.

    python3 refresh.py            write aws.json, cloudflare.json, fastly.json here
    python3 refresh.py --check    derive into a temporary directory and compare with the files
                                  here (a check: exit 1 if any differs or a type is missing)
    python3 refresh.py --from-terraform SCHEMA.json
                                  trim `terraform providers schema -json` output (from a machine
                                  that reaches the Terraform registry, with the real providers)
                                  to the types our modules use, and write it here instead

The types kept are those our modules and examples name (`resource "T"` and `data "T"` in
terraform/modules and terraform/examples), so a new resource type needs a refresh. Artifacts are
cached in $USHER_CACHE/terraform/artifacts (default ~/.cache/usher), checked against the hash in
artifacts.json before use.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TERRAFORM = HERE.parent.parent
CACHE = Path(os.environ.get("USHER_CACHE", Path.home() / ".cache" / "usher")) / "terraform" / "artifacts"


def used_types() -> dict[str, tuple[set[str], set[str]]]:
    """provider prefix -> (resource types, data source types) named in modules and examples."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for tf in list((TERRAFORM / "modules").rglob("*.tf")) + list((TERRAFORM / "examples").rglob("*.tf")):
        if ".terraform" in tf.parts:
            continue
        for kind, t in re.findall(r'^\s*(resource|data)\s+"(\w+)"', tf.read_text(), re.M):
            prefix = t.split("_", 1)[0]
            resources, data = found.setdefault(prefix, (set(), set()))
            (resources if kind == "resource" else data).add(t)
    return found


def integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def fetch(p: dict) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    if p["registry"] == "npm":
        name = p["package"].lstrip("@").replace("/", "-") + f"-{p['version']}.tgz"
        path = CACHE / name
        if not path.exists():
            subprocess.run(["npm", "pack", "--silent", f"{p['package']}@{p['version']}",
                            "--pack-destination", str(CACHE)], check=True, stdout=subprocess.DEVNULL)
    else:
        wheel = p["package"].replace("-", "_") + f"-{p['version']}-py3-none-any.whl"
        path = CACHE / wheel
        if not path.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--disable-pip-version-check", "-d", str(CACHE),
                            f"{p['package']}=={p['version']}"], check=True)
    if integrity(path) != p["integrity"]:
        raise SystemExit(f"refresh.py: {path.name} does not match the integrity in artifacts.json")
    return path


def derive(p: dict, artifact: Path, types: tuple[set[str], set[str]], out: Path) -> None:
    cmd = [sys.executable, str(HERE / "derive.py"), "--kind", p["kind"], "--artifact", str(artifact),
           "--out", str(out)]
    if p["kind"] == "pulumi":
        cmd += ["--provider-source", p["provider_source"], "--provider-version", p["provider_version"]]
    for t in sorted(types[0]):
        cmd += ["--resource", t]
    for t in sorted(types[1]):
        cmd += ["--data-source", t]
    subprocess.run(cmd, check=True)


def from_terraform(schema_path: Path) -> None:
    doc = json.loads(schema_path.read_text())
    used = used_types()
    pins = {p["prefix"]: p for p in json.loads((HERE / "artifacts.json").read_text())["providers"]}
    for source, schema in doc["provider_schemas"].items():
        prefix = source.rsplit("/", 1)[1]
        if prefix not in pins or prefix not in used:
            continue
        resources, data = used[prefix]
        trimmed = {
            "provider": schema.get("provider", {}),
            "resource_schemas": {t: schema["resource_schemas"][t] for t in sorted(resources)},
            "data_source_schemas": {t: schema["data_source_schemas"][t] for t in sorted(data)},
        }
        version = input(f"version of {source} that printed this schema: ").strip()
        out = {"format_version": doc.get("format_version", "1.0"),
               "derived_from": {"provider": source, "provider_version": version,
                                "package": "terraform providers schema -json"},
               "provider_schemas": {source: trimmed}}
        (HERE / pins[prefix]["file"]).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"wrote {pins[prefix]['file']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--from-terraform", type=Path)
    args = ap.parse_args()
    if args.from_terraform:
        from_terraform(args.from_terraform)
        return 0
    used = used_types()
    pins = json.loads((HERE / "artifacts.json").read_text())["providers"]
    unpinned = sorted(set(used) - {p["prefix"] for p in pins} - {"terraform"})
    if unpinned:
        print(f"refresh.py: no artifact pinned for provider(s) {', '.join(unpinned)}", file=sys.stderr)
        return 1
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for p in pins:
            if p["prefix"] not in used:
                continue
            target = Path(tmp) / p["file"] if args.check else HERE / p["file"]
            derive(p, fetch(p), used[p["prefix"]], target)
            if args.check:
                committed = HERE / p["file"]
                if not committed.exists() or committed.read_text() != target.read_text():
                    print(f"refresh.py: {p['file']} differs from what {p['package']}@{p['version']} "
                          f"derives for the types the modules use: run python3 terraform/checks/schemas/refresh.py",
                          file=sys.stderr)
                    status = 1
                else:
                    print(f"{p['file']}: derived from {p['package']}@{p['version']}, up to date")
            else:
                print(f"wrote {p['file']} from {p['package']}@{p['version']}")
    return status


if __name__ == "__main__":
    sys.exit(main())
