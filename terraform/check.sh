#!/usr/bin/env bash
# The Terraform checks, offline: formatting, the provider schemas' provenance, validate and
# terraform test of every module and the example against the providers' real schemas (served
# by a schema-only stub provider), the module conventions, a static policy check (checkov), and
# deliberately broken copies that must fail. Ends with one line, `N passed, M failed`.
#
#   terraform/check.sh            (make test-terraform)
#
# Installs what is missing at pinned versions into $USHER_CACHE/terraform (default
# ~/.cache/usher): Python venvs for the stub provider, the linter and checkov (PyPI), and the
# provider artifacts the schemas are derived from (npm, PyPI). Terraform itself cannot be
# installed from any registry this project reaches (see docs/deploy.md, "Checks"): without it
# on PATH the checks are skipped, saying so.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${USHER_CACHE:-$HOME/.cache/usher}/terraform
passed=0
failed=0
failures=()

say() { printf '\n\033[1m==> %s\033[0m\n' "$1"; }
pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
fail() {
	failed=$((failed + 1))
	failures+=("$1")
	printf '  FAIL  %s\n' "$1"
}
# check NAME COMMAND...: one check; its output is shown only when it fails.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name"
		printf '%s\n' "$out" | sed 's/^/        /' | tail -40
	fi
}
# refuse NAME PATTERN COMMAND...: a check that COMMAND fails, saying PATTERN.
refuse() {
	local name=$1 pattern=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$name (it passed)"
	elif grep -q -- "$pattern" <<<"$out"; then
		pass "$name"
		grep -m1 -- "$pattern" <<<"$out" | sed 's/^[[:space:]│]*/        → /'
	else
		fail "$name (it failed, but not with \"$pattern\")"
		printf '%s\n' "$out" | sed 's/^/        /' | tail -20
	fi
}

# --- terraform ---------------------------------------------------------------------------------

if ! command -v terraform >/dev/null; then
	say "terraform checks SKIPPED: no terraform on PATH"
	cat <<-'EOF'
		No registry this project reaches ships Terraform or OpenTofu (PyPI and npm carry only
		wrappers that download it at run time; Debian has neither). Install it from
		https://developer.hashicorp.com/terraform/install (1.9 or later) and run again.
	EOF
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
tf_version=$(TF_CLI_CONFIG_FILE=/dev/null terraform version -json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')
if ! python3 -c 'import sys; v=tuple(map(int, sys.argv[1].split(".")[:2])); sys.exit(v < (1, 9))' "$tf_version"; then
	echo "terraform $tf_version is too old: the modules need 1.9 or later" >&2
	exit 1
fi

# --- set-up: venvs, the stub providers' mirror, a scratch copy --------------------------------

venv() { # venv NAME REQUIREMENTS: a venv in the cache, rebuilt when its requirements change
	local dir=$cache/$1 stamp
	stamp=$(sha256sum "$2" | cut -c1-16)
	if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
		say "installing $(grep -v '^#' "$2" | head -1 | cut -d= -f1) and its pins into $dir (PyPI)"
		rm -rf "$dir"
		python3 -m venv "$dir"
		"$dir/bin/pip" install --quiet --disable-pip-version-check -r "$2"
		echo "$stamp" >"$dir/.stamp"
	fi
}
mkdir -p "$cache"
venv stub-venv "$here/checks/requirements-stub.txt"
venv lint-venv "$here/checks/requirements-lint.txt"
venv checkov-venv "$here/checks/requirements-checkov.txt"

work=$(mktemp -d "${TMPDIR:-/tmp}/usher-terraform.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Each provider's executable in a filesystem mirror is the stub with that provider's schema, at
# the version the schema was derived from. direct{exclude} keeps Terraform off the registry.
host=registry.terraform.io
for schema in "$here"/checks/schemas/{aws,cloudflare,fastly}.json; do
	read -r source version < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(next(iter(d["provider_schemas"])), d["derived_from"]["provider_version"])' "$schema")
	type=${source##*/}
	dir=$work/mirror/${source}/${version}/linux_amd64
	mkdir -p "$dir"
	cat >"$dir/terraform-provider-${type}_v${version}" <<-EOF
		#!/bin/sh
		exec "$cache/stub-venv/bin/python" "$here/checks/stub/provider.py" "$schema" "$source"
	EOF
	chmod +x "$dir/terraform-provider-${type}_v${version}"
done
cat >"$work/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["$host/*/*"]
  }
  direct {
    exclude = ["*/*/*"]
  }
}
EOF
export TF_CLI_CONFIG_FILE=$work/cli.tfrc CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0

# The checks run on a copy: nothing is written into the checkout, and lock files (which a live
# root commits with the real providers' hashes) are not there to reject the stubs.
copy() { # copy DEST: terraform/modules and terraform/examples, without local state
	mkdir -p "$1"
	cp -r "$here/modules" "$here/examples" "$1/"
	find "$1" \( -name .terraform -o -name .terraform.lock.hcl -o -name 'terraform.tfstate*' \) -prune -exec rm -rf {} +
}
copy "$work/tree"
roots=(modules/topology modules/edge-fastly modules/edge-cloudflare modules/origin-region modules/ingest examples/two-regions-two-edges)

validate() { # validate DIR: init against the mirror, then validate
	(cd "$1" && terraform init -backend=false -no-color >/dev/null && terraform validate -no-color)
}

# --- the checks --------------------------------------------------------------------------------

say "formatting (terraform fmt -check -recursive)"
check "terraform fmt" terraform fmt -check -recursive -diff -no-color "$here"

say "provider schemas: derived from their pinned artifacts (npm, PyPI)"
check "schemas match @cdktf/provider-aws, @cdktf/provider-cloudflare, pulumi-fastly" \
	python3 "$here/checks/schemas/refresh.py" --check

say "terraform validate, against the providers' schemas"
for root in "${roots[@]}"; do
	check "validate $root" validate "$work/tree/$root"
done

say "terraform test"
for root in "${roots[@]}"; do
	[ -d "$work/tree/$root/tests" ] || continue
	out=$(cd "$work/tree/$root" && terraform test -no-color 2>&1) && status=0 || status=$?
	# Each run block is one check.
	while read -r verdict name; do
		if [ "$verdict" = pass ]; then pass "$root: $name"; else fail "$root: $name"; fi
	done < <(sed -n 's/^  run "\([^"]*\)"\.\.\. \(pass\|fail\)$/\2 \1/p' <<<"$out")
	if [ "$status" -ne 0 ] || ! grep -q '^  run ' <<<"$out"; then
		grep -q '^  run .*fail$' <<<"$out" || fail "$root: terraform test (exit $status)"
		printf '%s\n' "$out" | grep -v '^  run .*pass$' | sed 's/^/        /' | tail -40
	fi
done

say "module conventions (lint.py)"
check "variables typed and described, outputs described, versions.tf, no provider blocks, READMEs" \
	"$cache/lint-venv/bin/python" "$here/checks/lint.py" "$here"

say "policy (checkov: encryption in transit and at rest, no public buckets, secrets)"
check "checkov on modules and example" \
	"$cache/checkov-venv/bin/checkov" --quiet --compact --config-file "$here/checks/checkov.yaml" \
	--external-checks-dir "$here/checks/policies" -d "$work/tree"

say "deliberately broken copies must fail"
# A misspelled argument in the Fastly module.
copy "$work/broken1"
sed -i 's/source_code_hash = data.fastly_package_hash.this.hash/source_code_hsh = data.fastly_package_hash.this.hash/' \
	"$work/broken1/modules/edge-fastly/main.tf"
refuse "a misspelled argument (edge-fastly: source_code_hsh) fails validate" \
	'An argument named "source_code_hsh" is not expected here' validate "$work/broken1/modules/edge-fastly"
refuse "...and fails the example that uses the module" \
	'An argument named "source_code_hsh" is not expected here' validate "$work/broken1/examples/two-regions-two-edges"
# A required argument left out of the Cloudflare module.
copy "$work/broken2"
sed -i '/^  worker_id  *= cloudflare_worker.this.id$/d' "$work/broken2/modules/edge-cloudflare/main.tf"
refuse "a missing required argument (edge-cloudflare: worker_id) fails validate" \
	'The argument "worker_id" is required' validate "$work/broken2/modules/edge-cloudflare"
# A block the resource does not have, in the origin module.
copy "$work/broken3"
sed -i 's/^  metadata_options {$/  metadata_option {/' "$work/broken3/modules/origin-region/nodes.tf"
refuse "an unknown block (origin-region: metadata_option) fails validate" \
	'Blocks of type "metadata_option" are not expected here' validate "$work/broken3/modules/origin-region"
# A public, unencrypted bucket must fail the policy check.
copy "$work/broken4"
sed -i 's/block_public_policy     = true/block_public_policy     = false/' "$work/broken4/modules/origin-region/balancers.tf"
refuse "a bucket whose public access block allows public policies fails checkov" \
	'CKV_AWS_54' "$cache/checkov-venv/bin/checkov" --quiet --compact --config-file "$here/checks/checkov.yaml" \
	--external-checks-dir "$here/checks/policies" -d "$work/broken4"
# A secret variable that is not marked sensitive must fail the lint.
copy "$work/broken5"
sed -i '/^variable "redis_auth_token" {$/,/^}$/{/sensitive   = true/d}' "$work/broken5/modules/origin-region/variables.tf"
refuse "a secret variable without sensitive = true fails the lint" \
	'redis_auth_token' "$cache/lint-venv/bin/python" "$here/checks/lint.py" "$work/broken5"

# --- summary -----------------------------------------------------------------------------------

if [ "$failed" -gt 0 ]; then
	printf '\nFailed:\n'
	printf '  %s\n' "${failures[@]}"
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
