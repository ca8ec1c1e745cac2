# Usher's two commands, and the steps they are made of.
#
#   make run    set up what is missing, then run the main job: a local live event (usher dev)
#   make test   set up what is missing, then run every check CI runs
#
# Each step installs only what is missing and says what it is doing, so a second run on the
# same machine goes straight to the work. Nothing here reads anything outside this checkout.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLCHAIN := $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
WASM_TARGETS := wasm32-wasip1 wasm32-wasip2 wasm32-unknown-unknown
VENV := .venv
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := shared/tests/interop/requirements.txt
CARGO_FUZZ_VERSION := 0.13.1
TEST_LOG := target/test-output.log
ORIGIN_TEST_LOG := target/origin-test-output.log
# Cargo's output directory: CARGO_TARGET_DIR when set, as cargo itself reads it.
CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)
EDGE_WASM := $(CARGO_TARGET)/wasm32-wasip2/release/usher-edge-wasi-http.wasm
FASTLY_WASM := $(CARGO_TARGET)/wasm32-wasip1/release-fastly/usher-edge-fastly.wasm
# Cargo-installed tools live where `cargo install` puts them by default, so every checkout on a
# machine shares one copy; each is found there by version and compiled only when missing.
TOOLS := $(or $(CARGO_HOME),$(HOME)/.cargo)
CF_DIR := edge/cloudflare
CF_BUILD := $(CF_DIR)/build
CF_NODE_STAMP := $(CF_DIR)/node_modules/.installed
WORKER_BUILD_VERSION := 0.8.7
# Fastly's local runtime, for wasm-tests; the version wasm-tests/tests/all/tools.rs expects.
VICEROY_VERSION := 0.22.0
# The wasm-bindgen CLI must be exactly the wasm-bindgen library version in Cargo.lock.
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' Cargo.lock)
BROWSER_LOG := target/browser-output.log
TERRAFORM_LOG := target/terraform-output.log
BROWSER_DIR := edge/core/tests/browser
NODE_STAMP := $(BROWSER_DIR)/node_modules/.installed
ASSETS_DIR := edge/assets
ASSETS_STAMP := $(ASSETS_DIR)/node_modules/.installed
EDGE_ASSETS := target/edge-assets
HLS_JS_VERSION := $(shell sed -n 's/^ *"hls.js": *"\([^"]*\)".*/\1/p' $(ASSETS_DIR)/package.json)
HLS_JS_ASSET := $(EDGE_ASSETS)/hls.js/$(HLS_JS_VERSION)/hls.min.js

# A message may hold commas: `call` splits them into further arguments, joined back here. Each
# message says how long make has been running (minutes:seconds), so a log shows each step's time.
comma := ,
MAKE_STARTED := $(shell date +%s)
say = make_s=$$(( $$(date +%s) - $(MAKE_STARTED) )); \
	printf '\n\033[1m==> [%d:%02d] %s\033[0m\n' $$((make_s / 60)) $$((make_s % 60)) "$(1)$(if $(2),$(comma)$(2))$(if $(3),$(comma)$(3))$(if $(4),$(comma)$(4))"

.PHONY: help run test test-terraform setup toolchain venv apt-python apt-origin apt-browser apt-npm node-deps edge-assets cloudflare-tools cloudflare-worker viceroy fmt clippy doc unit browser wasm-check wasm-tests mutants bench fuzz clean

help:
	@echo "make run    set up, then run the main job: a local live event (origins, three CDNs, edges, controller) to watch in a browser"
	@echo "make test   set up, then run every check: fmt, clippy, tests (interop, browser end to end, Terraform included), wasm builds"
	@echo "make test-terraform  only the Terraform checks (fmt, validate, terraform test, checkov; offline)"
	@echo "make wasm-tests  only the conformance suite through wasmtime, Viceroy and workerd (after make test's set-up)"
	@echo "make mutants     break each adapter on purpose and check the suite catches it (minutes)"
	@echo "make bench  run the criterion benchmarks and print the ratio table"
	@echo "make fuzz   run the fuzz targets for a minute each (needs a nightly toolchain)"

# --- set-up ------------------------------------------------------------------------------

setup: toolchain venv apt-browser node-deps edge-assets viceroy

toolchain:
	@command -v rustup >/dev/null || { echo "rustup is required: see https://rustup.rs (or your distribution's rustup package)"; exit 1; }
	@if ! rustup toolchain list | grep -q "^$(TOOLCHAIN)"; then \
		$(call say,installing Rust $(TOOLCHAIN)); \
		rustup toolchain install $(TOOLCHAIN) --profile minimal; \
	fi
	@missing=""; installed=$$(rustup component list --toolchain $(TOOLCHAIN) --installed); \
	for c in rustfmt clippy; do grep -q "^$$c" <<<"$$installed" || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then $(call say,adding Rust components:$$missing); rustup component add --toolchain $(TOOLCHAIN) $$missing; fi
	@missing=""; installed=$$(rustup target list --toolchain $(TOOLCHAIN) --installed); \
	for t in $(WASM_TARGETS); do grep -qx "$$t" <<<"$$installed" || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then $(call say,adding Rust targets:$$missing); rustup target add --toolchain $(TOOLCHAIN) $$missing; fi

# Debian's python3 ships without the venv module; python3-venv adds it.
apt-python:
	@if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then \
		$(call say,installing python3-venv from Debian's packages); \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip; \
	fi

# The origin's encoder is Debian's FFmpeg, and a zone's nodes share channel leases in Redis;
# the local live event's CDNs and origin shield are Debian's nginx (in /usr/sbin, which is not
# on every user's PATH). `make run` sets them up.
apt-origin:
	@missing=""; command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/sbin/nginx || command -v nginx >/dev/null || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
		$(call say,installing from Debian's packages:$$missing); \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The player page is tested in a real browser: Debian's Chromium, FFmpeg for a test stream and the
# origin's encoder, a real Redis for the origin's channel leases, and nginx for the local live
# event's CDNs.
apt-browser:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/sbin/nginx || command -v nginx >/dev/null || missing="$$missing nginx"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		$(call say,installing from Debian's packages:$$missing); \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

node-deps: $(NODE_STAMP)

$(NODE_STAMP): $(BROWSER_DIR)/package-lock.json
	@$(call say,installing the browser test's npm packages (hls.js, playwright-core; pinned))
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The static assets `usher edge serve --assets` serves under /assets/ (the player library), from
# the npm package pinned in edge/assets/package-lock.json, laid out by asset name. The version
# in edge/core/src/page.rs must be the pinned one, or the page would ask for a missing file.
edge-assets: $(HLS_JS_ASSET)

apt-npm:
	@if ! command -v npm >/dev/null; then \
		$(call say,installing npm from Debian's packages); \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; \
	fi

$(ASSETS_STAMP): $(ASSETS_DIR)/package-lock.json | apt-npm
	@$(call say,installing the edge's static assets from npm (hls.js $(HLS_JS_VERSION); pinned))
	cd $(ASSETS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(HLS_JS_ASSET): $(ASSETS_STAMP) edge/core/src/page.rs
	@grep -q '"$(HLS_JS_VERSION)"' edge/core/src/page.rs || \
		{ echo "edge/core/src/page.rs does not serve hls.js $(HLS_JS_VERSION), the version edge/assets pins"; exit 1; }
	@mkdir -p $(@D)
	cp $(ASSETS_DIR)/node_modules/hls.js/dist/hls.min.js $@

# The Cloudflare Worker's build tools, at pinned versions in $(TOOLS), found there by version
# and compiled only when missing (each takes minutes): worker-build, and the wasm-bindgen CLI at
# exactly the library version in Cargo.lock. worker-build would otherwise download wasm-bindgen
# from GitHub. wasm-bindgen-cli is installed without --locked: its published lockfile pins a
# webpki-roots release that crates.io does not have, so a locked install cannot resolve.
cloudflare-tools: toolchain $(CF_NODE_STAMP)
	@if [ "$$($(TOOLS)/bin/worker-build --version 2>/dev/null)" != "$(WORKER_BUILD_VERSION)" ]; then \
		$(call say,installing worker-build $(WORKER_BUILD_VERSION) into $(TOOLS) (compiled once: minutes)); \
		cargo install --locked --quiet --force worker-build --version $(WORKER_BUILD_VERSION) --root $(TOOLS); \
	fi
	@if [ "$$($(TOOLS)/bin/wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
		$(call say,installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) into $(TOOLS) (compiled once: minutes)); \
		cargo install --quiet --force wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --root $(TOOLS); \
	fi

# Viceroy, Fastly's local Compute runtime, which wasm-tests runs the Fastly module under. Installed
# as its own binary (not viceroy-lib in the test process): viceroy-lib pins a different wasmtime
# major than `usher edge serve`, and two wasmtimes would double the build. Compiled once (about
# 20 CPU-minutes), then found by version.
viceroy: toolchain
	@if [ "$$($(TOOLS)/bin/viceroy --version 2>/dev/null)" != "viceroy $(VICEROY_VERSION)" ]; then \
		$(call say,installing viceroy $(VICEROY_VERSION) into $(TOOLS) (compiled once: many minutes)); \
		cargo install --locked --quiet --force viceroy --version $(VICEROY_VERSION) --root $(TOOLS); \
	fi

# esbuild (worker-build's bundler) and workerd (the local Workers runtime), pinned by
# edge/cloudflare/package-lock.json.
$(CF_NODE_STAMP): $(CF_DIR)/package-lock.json | apt-npm
	@$(call say,installing the Worker's npm tools (esbuild, workerd; pinned))
	cd $(CF_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The Cloudflare Worker into edge/cloudflare/build/ (index.js, index_bg.wasm): worker-build runs
# `cargo build --release --target wasm32-unknown-unknown` in this workspace's target/, then
# wasm-bindgen, then an esbuild bundle. The *_BIN variables point it at the pinned tools, so it
# downloads nothing; wasm-opt is off (edge/cloudflare/Cargo.toml).
cloudflare-worker: cloudflare-tools
	@$(call say,building the Cloudflare Worker (worker-build --release, wasm32-unknown-unknown))
	cd $(CF_DIR) && WASM_BINDGEN_BIN=$(TOOLS)/bin/wasm-bindgen \
		ESBUILD_BIN=$(CURDIR)/$(CF_DIR)/node_modules/.bin/esbuild \
		$(TOOLS)/bin/worker-build --release --locked

venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS) | apt-python
	@$(call say,creating the test-only Python venv ($(VENV)) with the reference token libraries)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	@touch $@

# --- the two commands ------------------------------------------------------------------------

# The local live event: the usher command, the edge component and its assets, then `usher dev`
# in the foreground (Ctrl-C stops it and everything it started). Its data: target/usher-dev.
# DEV_ARGS passes options to `usher dev`, e.g. DEV_ARGS="--doors-open-in 60" for a waiting room.
DEV_ARGS ?=
run: toolchain apt-origin edge-assets
	@$(call say,building usher and the edge component (wasm32-wasip2))
	cargo build --locked --quiet -p usher
	cargo build --locked --quiet -p usher-edge-wasi-http --release --target wasm32-wasip2
	@$(call say,starting the local live event (usher dev): origins and three CDNs and edges and the controller)
	$(CARGO_TARGET)/debug/usher dev --wasm $(EDGE_WASM) --assets $(EDGE_ASSETS) --data target/usher-dev $(DEV_ARGS)

test: setup fmt clippy doc wasm-check browser test-terraform unit

fmt:
	@$(call say,cargo fmt --check)
	cargo fmt --all --check

clippy:
	@$(call say,clippy with warnings as errors)
	cargo clippy --locked --workspace --all-targets -- -D warnings
	@$(call say,clippy for the WASI-HTTP edge component on its own target (wasm32-wasip2))
	cargo clippy --locked -p usher-edge-wasi-http --all-targets --target wasm32-wasip2 -- -D warnings
	@$(call say,clippy for the Fastly edge module on its own target (wasm32-wasip1))
	cargo clippy --locked -p usher-edge-fastly --all-targets --target wasm32-wasip1 -- -D warnings
	@$(call say,clippy for the Cloudflare Worker on its own target (wasm32-unknown-unknown))
	cargo clippy --locked -p usher-edge-cloudflare --all-targets --target wasm32-unknown-unknown -- -D warnings

# Crate docs are part of the product: broken intra-doc links fail the build.
doc:
	@$(call say,rustdoc with warnings as errors)
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --quiet --no-deps --workspace --document-private-items
	@# The Cloudflare Worker's runtime glue exists on wasm32 only.
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --quiet --no-deps -p usher-edge-cloudflare --document-private-items --target wasm32-unknown-unknown

# shared and the edge core must build, unchanged, for every platform the edge runs on. Then the
# WASI-HTTP edge component itself, which the end-to-end test in `unit` runs under
# `usher edge serve` (that test builds it too when run alone; here it is already up to date).
# No RUSTFLAGS on the component: the test's build must find these exact artifacts fresh. Then the
# Fastly edge module, which edge/fastly/README.md runs under Viceroy, and the Cloudflare Worker
# (cloudflare-worker), which edge/cloudflare/README.md runs under workerd. Their sizes are printed
# here; wasm-tests holds each to its budget (wasm-tests/budgets.json) and runs all three.
wasm-check: cloudflare-worker
	@for t in $(WASM_TARGETS); do \
		$(call say,building usher-shared and usher-edge-core for $$t); \
		RUSTFLAGS="-D warnings" cargo build --locked --quiet -p usher-shared -p usher-edge-core --target $$t; \
	done
	@$(call say,building the WASI-HTTP edge component (wasm32-wasip2, release))
	cargo build --locked --quiet -p usher-edge-wasi-http --release --target wasm32-wasip2
	@size=$$(stat -c %s $(EDGE_WASM)); gz=$$(gzip -9c $(EDGE_WASM) | wc -c); \
	echo "$(EDGE_WASM): $$size bytes, $$gz gzipped (budget: wasm-tests/budgets.json)"
	@$(call say,building the Fastly edge module (wasm32-wasip1, profile release-fastly))
	cargo build --locked --quiet -p usher-edge-fastly --profile release-fastly --target wasm32-wasip1
	@size=$$(stat -c %s $(FASTLY_WASM)); gz=$$(gzip -9c $(FASTLY_WASM) | wc -c); \
	echo "$(FASTLY_WASM): $$size bytes, $$gz gzipped (budget: wasm-tests/budgets.json)"
	@size=$$(stat -c %s $(CF_BUILD)/index_bg.wasm); gz=$$(gzip -9c $(CF_BUILD)/index_bg.wasm | wc -c); \
	js=$$(stat -c %s $(CF_BUILD)/index.js); jsgz=$$(gzip -9c $(CF_BUILD)/index.js | wc -c); \
	echo "$(CF_BUILD)/index_bg.wasm: $$size bytes, $$gz gzipped (budget: wasm-tests/budgets.json); index.js: $$js bytes, $$jsgz gzipped"

# The player page in headless Chromium with hls.js, then hls.js playing a live `usher origin`
# (origin.mjs: LL-HLS, latency, stalls, a clean stop); both counts join the final summary.
browser: apt-browser node-deps
	@$(call say,the player page in headless Chromium)
	@mkdir -p target/screenshots
	@cd $(BROWSER_DIR) && SCREENSHOT_DIR=$(CURDIR)/target/screenshots node run.mjs 2>&1 | tee $(CURDIR)/$(BROWSER_LOG)
	@$(call say,building usher for the origin in the browser)
	cargo build --locked --quiet -p usher
	@$(call say,a live usher origin played by hls.js in headless Chromium (about 30 s))
	@cd $(BROWSER_DIR) && USHER_BIN=$(abspath $(CARGO_TARGET))/debug/usher \
		SCREENSHOT_DIR=$(CURDIR)/target/screenshots node origin.mjs 2>&1 | tee -a $(CURDIR)/$(BROWSER_LOG)
	@$(call say,the steering controller's live dashboard and post-event report in headless Chromium (about 1 min))
	@cd control/tests/browser && USHER_BIN=$(abspath $(CARGO_TARGET))/debug/usher \
		SCREENSHOT_DIR=$(CURDIR)/target/screenshots node dashboard.mjs 2>&1 | tee -a $(CURDIR)/$(BROWSER_LOG)
	@$(call say,the local live event (usher dev) end to end with four hls.js viewers: six scenarios (about 2.5 min))
	@cd shared/cli/tests/browser && USHER_BIN=$(abspath $(CARGO_TARGET))/debug/usher \
		USHER_EDGE_WASM=$(abspath $(EDGE_WASM)) USHER_EDGE_ASSETS=$(CURDIR)/$(EDGE_ASSETS) \
		SCREENSHOT_DIR=$(CURDIR)/target/screenshots node event.mjs 2>&1 | tee -a $(CURDIR)/$(BROWSER_LOG)

# The Terraform modules, offline: fmt, provider schemas from published provider packages,
# validate, terraform test (mocked where providers are needed), lint, checkov, and broken copies
# that must fail (terraform/check.sh; docs/deploy.md). Skipped, saying so, where there is no
# terraform binary.
test-terraform:
	@$(call say,the Terraform checks offline (fmt; schemas; validate; test; lint; checkov; broken copies))
	@mkdir -p target
	@bash terraform/check.sh 2>&1 | tee $(TERRAFORM_LOG)

# All tests, interop with PyJWT and akamai-edgeauth included. The last line sums every test
# binary's results, so the run ends on one plain count.
# The edge end-to-end test serves the real player library from $(EDGE_ASSETS).
# Everything is compiled first; then the origin's tests (about 110 s, most of it waiting on live
# FFmpeg encodes in real time) run beside the rest of the workspace's (about 120 s, much of it
# waiting on servers and timeouts) instead of after them. Their output goes to its own log,
# printed once both are done, so neither interleaves with the other.
unit: venv edge-assets
	@$(call say,cargo test (unit, integration, golden, property, interop, CLI, edge end to end))
	@mkdir -p target
	@status=0; \
	export USHER_PYTHON=$(CURDIR)/$(VENV)/bin/python USHER_EDGE_ASSETS=$(CURDIR)/$(EDGE_ASSETS) \
		USHER_VICEROY=$(TOOLS)/bin/viceroy; \
	cargo test --locked --workspace --no-run 2>&1 | tee $(TEST_LOG) || status=$$?; \
	if [ $$status -eq 0 ]; then \
		cargo test --locked -p usher-origin > $(ORIGIN_TEST_LOG) 2>&1 & origin=$$!; \
		cargo test --locked --workspace --exclude usher-origin 2>&1 | tee -a $(TEST_LOG) || status=$$?; \
		wait $$origin || status=$$?; \
		$(call say,the origin's tests (usher-origin; they ran beside the others)); \
		cat $(ORIGIN_TEST_LOG); cat $(ORIGIN_TEST_LOG) >> $(TEST_LOG); \
	fi; \
	awk '/^test result:/ { p += $$4; f += $$6 } \
	     /^[0-9]+ passed, [0-9]+ failed$$/ { p += $$1; f += $$3 } \
	     END { printf "\ntests: %d passed, %d failed\n", p, f }' $(TEST_LOG) $$(test -f $(BROWSER_LOG) && echo $(BROWSER_LOG)) \
	     $$(test -f $(TERRAFORM_LOG) && echo $(TERRAFORM_LOG)); \
	exit $$status

# The conformance suite through the three runtimes, on its own (make test runs it within `unit`).
wasm-tests: setup wasm-check
	@$(call say,the conformance suite natively and through wasmtime, Viceroy and workerd)
	USHER_EDGE_ASSETS=$(CURDIR)/$(EDGE_ASSETS) USHER_VICEROY=$(TOOLS)/bin/viceroy \
	cargo test --locked -p usher-wasm-tests

# --- benchmarks, mutants and fuzzing (not part of make test) -------------------------------

# Breaks each adapter on purpose (one mutation each), rebuilds it, and checks that the runtime
# suite fails; restores and rebuilds afterwards. Minutes: three rebuilds and three suite runs.
mutants: setup wasm-check
	@$(call say,each adapter broken on purpose must fail the runtime suite)
	USHER_EDGE_ASSETS=$(CURDIR)/$(EDGE_ASSETS) USHER_VICEROY=$(TOOLS)/bin/viceroy \
	WASM_BINDGEN_BIN=$(TOOLS)/bin/wasm-bindgen ESBUILD_BIN=$(CURDIR)/$(CF_DIR)/node_modules/.bin/esbuild \
	WORKER_BUILD=$(TOOLS)/bin/worker-build python3 wasm-tests/mutants.py

bench: toolchain
	@$(call say,criterion benchmarks (a few minutes))
	cargo bench --locked -p usher-shared -p usher-edge-core -- --warm-up-time 2 --measurement-time 5
	@$(call say,ratios against the baselines measured in the same run)
	@python3 shared/benches/table.py target

fuzz:
	@rustup toolchain list | grep -q '^nightly' || { $(call say,installing a nightly toolchain for cargo-fuzz); rustup toolchain install nightly --profile minimal; }
	@command -v cargo-fuzz >/dev/null || { $(call say,installing cargo-fuzz $(CARGO_FUZZ_VERSION)); cargo install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION); }
	@cd shared/fuzz && for t in $$(cargo +nightly fuzz list); do \
		$(call say,fuzzing $$t for 60 s); \
		cargo +nightly fuzz run $$t -- -max_total_time=60; \
	done

clean:
	cargo clean
	rm -rf $(VENV)
