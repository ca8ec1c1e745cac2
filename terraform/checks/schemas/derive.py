#!/usr/bin/env python3
"""Derive Terraform provider schemas from published, versioned provider artifacts.

The offline checks validate our modules against the providers' real schemas, but the
providers' binaries (the only thing that prints `terraform providers schema -json`) come from a
registry the CI machines cannot reach. Two kinds of packages that *are* on reachable registries
were generated from those schemas, and this script reads them back:

* CDK for Terraform prebuilt providers (npm `@cdktf/provider-aws`, `@cdktf/provider-cloudflare`):
  every resource is TypeScript generated from the provider's schema, shipped with its source
  map. The generator writes one line per attribute, `// name - computed: X, optional: Y,
  required: Z`, maps block lists with `cdktf.listMapper(fn, true)` (nested attributes with
  `false`), documents single blocks as "name block", and keeps each attribute's Terraform type in
  `synthesizeHclAttributes`. Those facts are enough to rebuild the schema's blocks, attributes,
  nesting modes and types.
* Pulumi's bridged SDK (PyPI `pulumi-fastly`): there is no CDKTF package for Fastly. Pulumi
  generates its SDK from the Terraform provider's schema too; Python `ast` reads the argument and
  state classes back. Pulumi renames list blocks to plurals; `FASTLY_PLURALS` below is the
  bridge's renaming undone for the fields it applies to (see its comment).

The output has the shape of `terraform providers schema -json` (one provider per file), so a
schema printed by a real provider binary can replace a derived one unchanged (see refresh.sh).
Only the resource and data source types named on the command line are kept: the full AWS
schema is tens of megabytes and the stub provider serves it on every Terraform run.

What cannot be recovered, and so is not checked offline: `sensitive` flags (CDKTF and Pulumi drop
them), min/max item counts other than "at most one" and "at least one", and, for Fastly, whether
`name` is required (Pulumi auto-names resources, so its SDK marks every `name` optional).
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path

# ----------------------------------------------------------------------------------------------
# CDK for Terraform packages
# ----------------------------------------------------------------------------------------------

ATTR_LINE = re.compile(
    r"^  // (\w+) - computed: (true|false), optional: (true|false), required: (true|false)\n"
    r"  (?P<decl>[^\n]*)\n(?P<next>[^\n]*)\n(?P<next2>[^\n]*)",
    re.M,
)
CLASS_START = re.compile(r"^export class (\w+) extends (cdktf\.\w+) \{", re.M)
FUNC_START = re.compile(r"^export function (\w+)\(", re.M)
INTERFACE_START = re.compile(r"^export interface (\w+)(?: extends [\w.]+)? \{", re.M)
TOP_LEVEL = re.compile(r"^(export |/\*\*|// )", re.M)


class DeriveError(Exception):
    """A fact the generated code should state and does not: the artifact is not what we read."""


def ts_sources(files: dict[str, bytes]) -> str:
    """The TypeScript sources embedded in the source maps of a resource's compiled files."""
    out = []
    for name in sorted(files):
        if not name.endswith(".js"):
            continue
        text = files[name].decode("utf-8")
        m = re.search(r"sourceMappingURL=data:application/json;base64,(\S+)", text)
        if not m:
            raise DeriveError(f"{name}: no inline source map")
        smap = json.loads(base64.b64decode(m.group(1)))
        out.extend(smap.get("sourcesContent") or [])
    return "\n".join(out)


def chunks(ts: str, start: re.Pattern) -> dict[str, str]:
    """Top-level declarations matching `start`, keyed by name, each up to the next one."""
    found = {}
    for m in start.finditer(ts):
        rest = ts[m.end():]
        # A declaration ends where a line starts with `}` at column 0.
        end = re.search(r"^\}", rest, re.M)
        found[m.group(1)] = rest[: end.start() if end else len(rest)]
    return found


def hcl_entries(body: str) -> dict[str, dict]:
    """`name: { value: EXPR, isBlock: B, type: "T", storageClassType: "S" }` entries."""
    entries = {}
    pattern = re.compile(
        r"^\s+(\w+): \{\n\s+value: (?P<value>.*),\n\s+isBlock: (true|false),\n"
        r"\s+type: \"(?P<type>\w+)\",\n\s+storageClassType: \"(?P<storage>\w+)\",",
        re.M,
    )
    for m in pattern.finditer(body):
        entries[m.group(1)] = {
            "value": m.group("value"),
            "type": m.group("type"),
            "storage": m.group("storage"),
        }
    return entries


def interface_docs(body: str) -> dict[str, str]:
    """Terraform attribute name -> first line of its doc comment, from a struct interface."""
    docs = {}
    for m in re.finditer(r"/\*\*\n(.*?)\*/\n\s+readonly \w+\??:", body, re.S):
        comment = m.group(1)
        link = re.search(r"#(\w+) \w+#\w+\}", comment)
        if not link:
            continue
        first = comment.strip().splitlines()[0].lstrip("* ").strip()
        docs[link.group(1)] = first
    return docs


PRIMITIVE_GETTERS = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
}


def getter_type(expr: str):
    """The Terraform type of a computed-only attribute, from its getter's return expression."""
    m = re.match(r"this\.(\w+)\('(\w+)'\)$", expr)
    if m and m.group(1) in PRIMITIVE_GETTERS:
        return PRIMITIVE_GETTERS[m.group(1)]
    table = {
        "getListAttribute": ["list", "string"],
        "getNumberListAttribute": ["list", "number"],
        "getStringMapAttribute": ["map", "string"],
        "getNumberMapAttribute": ["map", "number"],
        "getBooleanMapAttribute": ["map", "bool"],
    }
    if m and m.group(1) in table:
        return table[m.group(1)]
    if re.match(r"cdktf\.Fn\.tolist\(this\.getListAttribute\('\w+'\)\)$", expr):
        return ["set", "string"]
    if re.match(r"cdktf\.Token\.asNumberList\(cdktf\.Fn\.tolist\(this\.getNumberListAttribute", expr):
        return ["set", "number"]
    if re.match(r"this\.interpolationForAttribute\('\w+'\)$", expr):
        return "dynamic"
    if re.match(r"this\.getAnyMapAttribute\('\w+'\)$", expr):
        return ["map", "dynamic"]
    return None


def storage_type(kind: str, storage: str):
    """A primitive or collection type from synthesizeHclAttributes' `type` and storage class."""
    element = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
    if kind == "simple":
        if storage in element:
            return element[storage]
    m = re.match(r"^(string|number|boolean|any)(List|Map)$", storage)
    if m and kind in ("list", "set", "map"):
        return [kind, element[m.group(1)]]
    m = re.match(r"^(string|number|boolean)(List|Map)(List|Map)$", storage)
    if m:
        inner = ["list" if m.group(2) == "List" else "map", element[m.group(1)]]
        return [kind if kind in ("list", "set", "map") else "list", inner]
    return None


class CdktfResource:
    """One resource or data source's generated TypeScript, read back into a schema block."""

    def __init__(self, tf_type: str, ts: str):
        self.tf_type = tf_type
        self.classes = chunks(ts, CLASS_START)
        self.funcs = chunks(ts, FUNC_START)
        self.interfaces = chunks(ts, INTERFACE_START)
        main = [
            name
            for name, body in self.classes.items()
            if f'tfResourceType = "{tf_type}"' in body
        ]
        if len(main) != 1:
            raise DeriveError(f"{tf_type}: expected one class for it, found {main}")
        self.main = main[0]

    def attributes_of(self, class_name: str) -> list[dict]:
        body = self.classes.get(class_name)
        if body is None:
            raise DeriveError(f"{self.tf_type}: class {class_name} is not in the sources")
        out = []
        for m in ATTR_LINE.finditer(body):
            out.append(
                {
                    "name": m.group(1),
                    "computed": m.group(2) == "true",
                    "optional": m.group(3) == "true",
                    "required": m.group(4) == "true",
                    "decl": m.group("decl").strip(),
                    "next": m.group("next").strip(),
                    "next2": m.group("next2").strip(),
                }
            )
        return out

    def hcl_of_main(self) -> dict[str, dict]:
        body = self.classes[self.main]
        i = body.find("synthesizeHclAttributes")
        return hcl_entries(body[i:]) if i >= 0 else {}

    def hcl_of_struct(self, struct: str) -> dict[str, dict]:
        fn = struct[0].lower() + struct[1:] + "ToHclTerraform"
        body = self.funcs.get(fn)
        return hcl_entries(body) if body else {}

    def docs_of(self, interface: str) -> dict[str, str]:
        body = self.interfaces.get(interface)
        return interface_docs(body) if body else {}

    def block(self, class_name: str, hcl: dict, docs: dict) -> dict:
        attributes: dict[str, dict] = {}
        block_types: dict[str, dict] = {}
        for a in self.attributes_of(class_name):
            name = a["name"]
            if name in attributes or name in block_types:
                continue
            flags = flags_of(a)
            decl = a["decl"]
            entry = hcl.get(name)
            struct_ref = re.match(
                r'private _\w+ = new (\w+)\(this, "(\w+)"(?:, (true|false))?\);', decl
            )
            if struct_ref and not struct_ref.group(1).startswith("cdktf."):
                cls = struct_ref.group(1)
                wraps_set = struct_ref.group(3) == "true"
                if cls.endswith("OutputReference"):
                    struct, shape = cls[: -len("OutputReference")], "single"
                elif cls.endswith("List"):
                    struct, shape = cls[: -len("List")], "set" if wraps_set else "list"
                elif cls.endswith("Map"):
                    struct, shape = cls[: -len("Map")], "map"
                else:
                    raise DeriveError(f"{self.tf_type}.{name}: unknown holder class {cls}")
                inner = self.block(
                    struct + "OutputReference", self.hcl_of_struct(struct), self.docs_of(struct)
                )
                settable = entry is not None
                if not settable:
                    # Computed only: an attribute of object type (what SDKv2 reports for nested
                    # computed data), readable but never set in configuration.
                    attributes[name] = {
                        "type": collection(shape, object_type(inner)),
                        **flags,
                    }
                    continue
                value = entry["value"]
                block_list = re.search(r"listMapperHcl\(\w+, true\)", value)
                attr_list = re.search(r"listMapperHcl\(\w+, false\)", value)
                if block_list or (shape == "single" and entry["type"] in ("list", "set")):
                    # A list or set of blocks; a holder without a mapper is one with at most one.
                    nesting = entry["type"] if entry["type"] in ("list", "set") else shape
                    bt = {"nesting_mode": nesting, "block": inner}
                    if shape == "single":
                        bt["max_items"] = 1
                    if a["required"]:
                        bt["min_items"] = 1
                    block_types[name] = bt
                elif attr_list or "hashMapperHcl" in value:
                    mode = "map" if "hashMapperHcl" in value else entry["type"]
                    attributes[name] = {
                        "nested_type": {"attributes": inner_attributes(inner), "nesting_mode": mode},
                        **flags,
                    }
                elif entry["type"] == "struct":
                    if docs.get(name) == f"{name} block" and not a["computed"]:
                        block_types[name] = {"nesting_mode": "single", "block": inner}
                    else:
                        attributes[name] = {
                            "nested_type": {
                                "attributes": inner_attributes(inner),
                                "nesting_mode": "single",
                            },
                            **flags,
                        }
                else:
                    raise DeriveError(f"{self.tf_type}.{name}: cannot classify {value!r}")
                continue
            cdktf_map = re.match(r'private _\w+ = new cdktf\.(\w+)Map\(this, "\w+"\);', decl)
            if cdktf_map:
                element = {"String": "string", "Number": "number", "Boolean": "bool", "Any": "dynamic"}
                kind = element.get(cdktf_map.group(1))
                if kind is None:
                    raise DeriveError(f"{self.tf_type}.{name}: unknown map {decl}")
                attributes[name] = {"type": ["map", kind], **flags}
                continue
            raw_struct = re.search(r"listMapperHcl\((\w+)ToHclTerraform, true\)", entry["value"]) \
                if entry is not None else None
            if decl.startswith("private _") and raw_struct:
                # The provider's own blocks are stored as plain values, without holder classes.
                fn = raw_struct.group(1)
                struct = fn[0].upper() + fn[1:]
                block_types[name] = {"nesting_mode": entry["type"],
                                     "block": self.block_from_interface(struct)}
                continue
            if decl.startswith("private _") and entry is not None:
                t = storage_type(entry["type"], entry["storage"])
                if t is None:
                    raise DeriveError(f"{self.tf_type}.{name}: unknown type {entry}")
                attributes[name] = {"type": t, **flags}
                continue
            if decl.startswith("public get ") and a["next"].startswith("return "):
                t = getter_type(a["next"][len("return "):].rstrip(";"))
                if t is None:
                    raise DeriveError(f"{self.tf_type}.{name}: unknown getter {a['next']}")
                attributes[name] = {"type": t, **flags}
                continue
            raise DeriveError(f"{self.tf_type}.{name}: cannot read {decl!r}")
        out: dict = {}
        if attributes:
            out["attributes"] = dict(sorted(attributes.items()))
        if block_types:
            out["block_types"] = dict(sorted(block_types.items()))
        return out

    def block_from_interface(self, struct: str) -> dict:
        """A block from a struct's interface (optional or not) and its HCL entries (types)."""
        body = self.interfaces.get(struct)
        if body is None:
            raise DeriveError(f"{self.tf_type}: no interface {struct}")
        optional = {}
        for m in re.finditer(r"#(\w+) \w+#\w+\}\n\s*\*/\n\s+readonly \w+(\?)?:", body):
            optional[m.group(1)] = m.group(2) == "?"
        attributes, block_types = {}, {}
        for name, entry in self.hcl_of_struct(struct).items():
            nested = re.search(r"listMapperHcl\((\w+)ToHclTerraform, true\)", entry["value"])
            if nested:
                fn = nested.group(1)
                block_types[name] = {"nesting_mode": entry["type"],
                                     "block": self.block_from_interface(fn[0].upper() + fn[1:])}
                continue
            t = storage_type(entry["type"], entry["storage"])
            if t is None:
                raise DeriveError(f"{self.tf_type}: {struct}.{name}: unknown type {entry}")
            flag = "optional" if optional.get(name, True) else "required"
            attributes[name] = {"type": t, flag: True}
        out = {}
        if attributes:
            out["attributes"] = dict(sorted(attributes.items()))
        if block_types:
            out["block_types"] = dict(sorted(block_types.items()))
        return out

    def schema(self) -> dict:
        config = [n for n in self.interfaces if n.endswith("Config")]
        docs = self.docs_of(config[0]) if config else {}
        return {"version": 0, "block": self.block(self.main, self.hcl_of_main(), docs)}


def flags_of(a: dict) -> dict:
    """Terraform's flags: exactly one of required, optional or computed-only, or optional and
    computed. CDKTF marks the children of a computed nested attribute computed as well; a
    required child stays required (Terraform refuses a schema that is both)."""
    if a["required"]:
        return {"required": True}
    out = {}
    if a["optional"]:
        out["optional"] = True
    if a["computed"] or not a["optional"]:
        out["computed"] = True
    return out


def collection(shape: str, element):
    return element if shape == "single" else [shape, element]


def object_type(block: dict):
    attrs = {}
    for name, a in block.get("attributes", {}).items():
        attrs[name] = a["type"] if "type" in a else nested_as_type(a["nested_type"])
    for name, b in block.get("block_types", {}).items():
        inner = object_type(b["block"])
        attrs[name] = inner if b["nesting_mode"] == "single" else [b["nesting_mode"], inner]
    return ["object", attrs]


def nested_as_type(nested: dict):
    inner = object_type({"attributes": nested["attributes"]})
    mode = nested["nesting_mode"]
    return inner if mode == "single" else [mode, inner]


def inner_attributes(block: dict) -> dict:
    """A nested attribute's members: nested types have no blocks, only attributes."""
    out = dict(block.get("attributes", {}))
    for name, b in block.get("block_types", {}).items():
        out[name] = {
            "nested_type": {
                "attributes": inner_attributes(b["block"]),
                "nesting_mode": b["nesting_mode"],
            },
            "optional": True,
        }
    return out


def cdktf_dir(provider: str, tf_type: str, data: bool) -> str:
    bare = tf_type[len(provider) + 1:]
    return ("data-" + tf_type if data else bare).replace("_", "-")


def derive_cdktf(tarball: Path, resources: list[str], data_sources: list[str]) -> tuple[dict, dict]:
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        package = json.load(tar.extractfile(members["package/package.json"]))
        provider_source = package["cdktf"]["provider"]["name"]
        provider_version = package["cdktf"]["provider"]["version"]
        provider = provider_source.rsplit("/", 1)[1]

        def files_of(directory: str) -> dict[str, bytes]:
            prefix = f"package/lib/{directory}/"
            found = {
                n: tar.extractfile(m).read()
                for n, m in members.items()
                if n.startswith(prefix) and n.endswith(".js")
            }
            if not found:
                raise DeriveError(f"{tarball.name}: no lib/{directory}/")
            return found

        def one(tf_type: str, data: bool) -> dict:
            ts = ts_sources(files_of(cdktf_dir(provider, tf_type, data)))
            return CdktfResource(tf_type, ts).schema()

        provider_ts = ts_sources(files_of("provider"))
        provider_block = CdktfProvider(provider_ts).schema()
        # CDKTF adds Terraform's own `alias` meta-argument to every provider's configuration.
        provider_block["block"].get("attributes", {}).pop("alias", None)
        schema = {
            "provider": provider_block,
            "resource_schemas": {t: one(t, False) for t in sorted(resources)},
            "data_source_schemas": {t: one(t, True) for t in sorted(data_sources)},
        }
    origin = {
        "package": f"{package['name']}@{package['version']}",
        "registry": "npm",
        "provider": provider_source,
        "provider_version": provider_version,
    }
    return {provider_source: schema}, origin


class CdktfProvider(CdktfResource):
    """The provider's own configuration block (its `provider "x" {}` arguments)."""

    def __init__(self, ts: str):
        self.tf_type = "provider"
        self.classes = chunks(ts, CLASS_START)
        self.funcs = chunks(ts, FUNC_START)
        self.interfaces = chunks(ts, INTERFACE_START)
        main = [n for n, b in self.classes.items() if "extends cdktf.TerraformProvider" in ts
                and re.search(r"tfResourceType = \"\w+\"", b)]
        if len(main) != 1:
            raise DeriveError(f"provider: expected one provider class, found {main}")
        self.main = main[0]


# ----------------------------------------------------------------------------------------------
# Pulumi bridged SDKs (Fastly)
# ----------------------------------------------------------------------------------------------

# Pulumi's Terraform bridge names a list or set block with more than one item by the plural of
# its Terraform name (`backend` -> `backends`), and the nested type by the singular. A plural
# cannot be undone by rule alone (`logging_https` and `logging_http` pluralise alike), so the
# fields of the types we derive are listed: each entry is Pulumi's name -> Terraform's, and the
# derivation fails if Pulumi's SDK has a plural field this table does not name, rather than
# guess.
FASTLY_PLURALS = {
    "fastly_service_compute": {
        "backends": "backend",
        "dictionaries": "dictionary",
        "domains": "domain",
        "healthchecks": "healthcheck",
        "resource_links": "resource_link",
    },
}


OMITTED: list[str] = []


def pulumi_type(node: ast.AST, module: dict[str, ast.ClassDef], owner: str, field: str):
    """(kind, value): a Terraform type, or a nested block built from an `...Args` class."""
    text = ast.unparse(node)
    text = re.sub(r"pulumi\.Input\[(.*)\]", r"\1", text)
    text = re.sub(r"^Optional\[(.*)\]$", r"\1", text)
    prim = {"_builtins.str": "string", "_builtins.int": "number", "_builtins.float": "number",
            "_builtins.bool": "bool", "str": "string", "int": "number", "float": "number",
            "bool": "bool"}

    def strip(t: str) -> str:
        t = t.strip()
        while True:
            m = re.match(r"^pulumi\.Input\[(.*)\]$", t) or re.match(r"^Optional\[(.*)\]$", t)
            if not m:
                return t.strip("'\"")
            t = m.group(1).strip()

    t = strip(text)
    if t in prim:
        return ("type", prim[t])
    m = re.match(r"^Sequence\[(.*)\]$", t)
    if m:
        inner = strip(m.group(1))
        if inner in prim:
            return ("type", ["list", prim[inner]])
        if inner.endswith("Args") and inner in module:
            return ("blocks", inner)
    m = re.match(r"^Mapping\[_?b?u?i?l?t?i?n?s?\.?str, (.*)\]$", t)
    if m:
        inner = strip(m.group(1))
        if inner in prim:
            return ("type", ["map", prim[inner]])
    if t.endswith("Args") and t in module:
        return ("block", t)
    raise DeriveError(f"{owner}.{field}: cannot read the Pulumi type {text}")


def init_args(cls: ast.ClassDef) -> list[tuple[str, ast.AST, bool]]:
    """(name, annotation, has_default) for each keyword parameter of `__init__`."""
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            args = item.args.kwonlyargs
            defaults = item.args.kw_defaults
            return [(a.arg, a.annotation, d is not None) for a, d in zip(args, defaults)]
    raise DeriveError(f"{cls.name}: no __init__")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def derive_pulumi_block(cls: ast.ClassDef, state: ast.ClassDef | None, module, owner: str,
                        plurals: dict[str, str]) -> dict:
    attributes: dict[str, dict] = {}
    block_types: dict[str, dict] = {}
    inputs = {name: (ann, has_default) for name, ann, has_default in init_args(cls)}
    everything = dict(inputs)
    if state is not None:
        for name, ann, _ in init_args(state):
            everything.setdefault(name, (ann, True))
    for name, (ann, has_default) in everything.items():
        settable = name in inputs
        kind, value = pulumi_type(ann, module, owner, name)
        if kind == "type":
            if settable:
                flags = {"optional": True} if has_default else {"required": True}
                if has_default and state is not None:
                    flags["computed"] = True
            else:
                flags = {"computed": True}
            attributes[name] = {"type": value, **flags}
            continue
        inner = derive_pulumi_block(module[value], None, module, f"{owner}.{name}", {})
        if kind == "blocks":
            tf_name = plurals.get(name)
            if tf_name is None:
                # Not named in the table: left out of the schema (and listed as omitted), so a
                # configuration using it is refused rather than checked against a guessed name.
                OMITTED.append(f"{owner}.{name}")
                continue
            bt = {"nesting_mode": "set", "block": inner}
        else:
            tf_name = name
            bt = {"nesting_mode": "list", "block": inner, "max_items": 1}
        if settable:
            if not has_default:
                bt["min_items"] = 1
            block_types[tf_name] = bt
        else:
            attributes[tf_name] = {"type": object_type(inner), "computed": True}
    out = {}
    if attributes:
        out["attributes"] = dict(sorted(attributes.items()))
    if block_types:
        out["block_types"] = dict(sorted(block_types.items()))
    return out


def derive_pulumi(wheel: Path, provider_source: str, provider_version: str,
                  resources: list[str], data_sources: list[str]) -> tuple[dict, dict]:
    provider = provider_source.rsplit("/", 1)[1]
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        root = next(n.split("/")[0] for n in names if n.endswith("/pulumi-plugin.json"))
        plugin = json.loads(z.read(f"{root}/pulumi-plugin.json"))

        def parse(path: str) -> dict[str, ast.ClassDef]:
            tree = ast.parse(z.read(f"{root}/{path}"))
            return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

        nested = parse("_inputs.py")

        def camel(tf_type: str) -> str:
            return tf_type[len(provider) + 1:]

        schema = {"provider": {"version": 0, "block": {}}, "resource_schemas": {},
                  "data_source_schemas": {}}
        for tf_type in sorted(resources):
            module = parse(f"{camel(tf_type)}.py")
            stem = "".join(p.capitalize() for p in camel(tf_type).split("_"))
            args, state = module.get(f"{stem}Args"), module.get(f"_{stem}State")
            if args is None or state is None:
                raise DeriveError(f"{tf_type}: no {stem}Args/_{stem}State in {wheel.name}")
            block = derive_pulumi_block(args, state, {**nested, **module}, tf_type,
                                        FASTLY_PLURALS.get(tf_type, {}))
            block["attributes"]["id"] = {"type": "string", "optional": True, "computed": True}
            schema["resource_schemas"][tf_type] = {"version": 0, "block": block}
        for tf_type in sorted(data_sources):
            module = parse(f"get_{camel(tf_type)}.py")
            stem = "".join(p.capitalize() for p in camel(tf_type).split("_"))
            result = module.get(f"Get{stem}Result")
            if result is None:
                raise DeriveError(f"{tf_type}: no Get{stem}Result in {wheel.name}")
            fn = ast.parse(z.read(f"{root}/get_{camel(tf_type)}.py"))
            func = next(n for n in fn.body if isinstance(n, ast.FunctionDef)
                        and n.name == f"get_{camel(tf_type)}")
            params = {a.arg for a in func.args.args}
            attrs = {}
            getters = [(n.name, n.returns) for n in result.body
                       if isinstance(n, ast.FunctionDef) and n.returns is not None
                       and any(ast.unparse(d).endswith("property") for d in n.decorator_list)]
            for name, ann in getters:
                kind, value = pulumi_type(ann, module, tf_type, name)
                if kind != "type":
                    raise DeriveError(f"{tf_type}.{name}: nested data source results")
                # Pulumi passes a data source's arguments as function parameters; the rest is
                # what the provider computes.
                attrs[name] = {"type": value,
                               **({"optional": True, "computed": True} if name in params
                                  else {"computed": True})}
            schema["data_source_schemas"][tf_type] = {"version": 0, "block": {"attributes": attrs}}
    origin = {
        "package": f"pulumi-{plugin['name']}@{plugin['version']}",
        "registry": "pypi",
        "provider": provider_source,
        "provider_version": provider_version,
        "omitted_plural_blocks": sorted(OMITTED),
    }
    return {provider_source: schema}, origin


# ----------------------------------------------------------------------------------------------


def sha512_of(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=["cdktf", "pulumi"], required=True)
    ap.add_argument("--artifact", type=Path, required=True, help="the .tgz or .whl")
    ap.add_argument("--provider-source", help="pulumi: e.g. registry.terraform.io/fastly/fastly")
    ap.add_argument("--provider-version", help="pulumi: the bridged provider's version")
    ap.add_argument("--resource", action="append", default=[])
    ap.add_argument("--data-source", action="append", default=[])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    try:
        if args.kind == "cdktf":
            schemas, origin = derive_cdktf(args.artifact, args.resource, args.data_source)
        else:
            schemas, origin = derive_pulumi(args.artifact, args.provider_source,
                                            args.provider_version, args.resource,
                                            args.data_source)
    except DeriveError as e:
        print(f"derive.py: {e}", file=sys.stderr)
        return 1
    origin["artifact_sha512"] = sha512_of(args.artifact)
    doc = {"format_version": "1.0", "derived_from": origin, "provider_schemas": schemas}
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
