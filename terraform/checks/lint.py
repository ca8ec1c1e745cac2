#!/usr/bin/env python3
"""Conventions the modules keep, which `terraform validate` does not check.

    lint.py TERRAFORM_DIR      (the directory holding modules/ and examples/)

* every module has main.tf, variables.tf, outputs.tf, versions.tf and a README.md, and no
  provider block (providers are configured by the root that calls it);
* versions.tf says required_version and declares, with a source and a version constraint, every
  provider whose resources the module uses;
* every variable has a type and a description, and every output a description;
* a variable that holds a secret (its name says secret, token, password or key, and it is not an
  id, ARN or name) is `sensitive = true`, and no output is sensitive or exposes one: secrets go in,
  never out;
* a module's README names each of its variables and outputs.

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2

SECRET_NAME = re.compile(r"(secret|token|password|passphrase|(^|_)keys?$)")
NOT_SECRET = re.compile(r"(_arn|_id|_ids|_names?|_titles?)$")


def load(path: Path) -> dict:
    with path.open() as f:
        return hcl2.load(f)


def blocks(docs: list[dict], kind: str) -> list[tuple[str, dict]]:
    out = []
    for doc in docs:
        for entry in doc.get(kind, []):
            for name, body in entry.items():
                out.append((name.strip('"'), body))
    return out


def lint_dir(d: Path, module: bool, problems: list[str]) -> None:
    rel = d.name if not module else f"modules/{d.name}"
    files = sorted(d.glob("*.tf"))
    docs = [load(f) for f in files]
    if module:
        for name in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]:
            if not (d / name).exists():
                problems.append(f"{rel}: no {name}")
        if any(doc.get("provider") for doc in docs):
            problems.append(f"{rel}: a provider block in a reusable module")
    text = "\n".join(f.read_text() for f in files)
    used = set(re.findall(r'^\s*(?:resource|data)\s+"([a-z0-9]+)_', text, re.M)) - {"terraform"}
    terraform = [t for doc in docs for t in doc.get("terraform", [])]
    if not any("required_version" in t for t in terraform):
        problems.append(f"{rel}: versions.tf does not say required_version")
    declared = {}
    for t in terraform:
        for rp in t.get("required_providers", []):
            declared.update(rp)
    for p in sorted(used):
        spec = declared.get(p)
        if not isinstance(spec, dict) or "source" not in spec or "version" not in spec:
            problems.append(f"{rel}: provider {p} is used but not declared with a source and a version")
    sensitive = set()
    for name, body in blocks(docs, "variable"):
        if "type" not in body:
            problems.append(f"{rel}: variable {name} has no type")
        if not body.get("description"):
            problems.append(f"{rel}: variable {name} has no description")
        if body.get("sensitive") is True:
            sensitive.add(name)
        elif SECRET_NAME.search(name) and not NOT_SECRET.search(name):
            problems.append(f"{rel}: variable {name} holds a secret but is not sensitive = true")
    for name, body in blocks(docs, "output"):
        if not body.get("description"):
            problems.append(f"{rel}: output {name} has no description")
        if body.get("sensitive") is True:
            problems.append(f"{rel}: output {name} is sensitive: secrets must not leave through outputs")
        value = str(body.get("value", ""))
        for s in sensitive:
            if re.search(rf"\bvar\.{s}\b", value):
                problems.append(f"{rel}: output {name} exposes the sensitive variable {s}")
    if module and (d / "README.md").exists():
        readme = (d / "README.md").read_text()
        for kind in ("variable", "output"):
            for name, _ in blocks(docs, kind):
                if f"`{name}`" not in readme:
                    problems.append(f"{rel}: README.md does not document the {kind} `{name}`")


def main() -> int:
    root = Path(sys.argv[1])
    problems: list[str] = []
    for d in sorted((root / "modules").iterdir()):
        if d.is_dir():
            lint_dir(d, True, problems)
    for d in sorted((root / "examples").iterdir()):
        if d.is_dir():
            lint_dir(d, False, problems)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
