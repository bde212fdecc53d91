# Thin wrapper: the real logic lives in scripts/ and in code.
# make test         everything CI runs: unit, golden-vector, fuzz smoke, database and host tests
# make demo         the five stories on a SQLite demo database, no server needed
# make dist         dist/datasync-<version>.tar.gz, the Data Sync bundle for Mattermost
#                   (every platform; DIST_PLATFORMS="linux-amd64" builds only those)
# make deploy       make dist, then upload and enable it (MM_SERVICESETTINGS_SITEURL +
#                   MM_ADMIN_TOKEN, or MM_LOCALSOCKETPATH; see scripts/deploy.sh)
# make hello-bundle dist/rs-hello-<version>.tar.gz, installable in Mattermost
# make bench        Rust plugin vs the official Go SDK, side by side
# make bench-plugin the Data Sync plugin under the real host: posts/s, RSS, 1M rows, latency
# make e2e          Data Sync and rs-hello on a real Mattermost server (built once, cached)
# make bench-e2e    Data Sync on a real Mattermost server: posts/s vs the REST API, RSS, install
# make transforms   the example row transforms, built for wasm32 (examples/transforms)
# make bench-transforms  rows/s and ns/row through each example transform, compile times,
#                   on wasmi (shipped) and wasmtime (the `wasmtime` feature)
# make check        cargo fmt + clippy (also with the `wasmtime` feature)
SHELL := /bin/bash

.PHONY: test demo dist deploy hello-bundle bench bench-plugin e2e bench-e2e transforms bench-transforms check gob-golden clean

test:
	bash scripts/test.sh

demo:
	cargo run -q -p datasync --release -- demo

dist:
	bash scripts/plugin-bundle.sh datasync-plugin plugin.json assets

deploy: dist
	bash scripts/deploy.sh

hello-bundle:
	bash scripts/plugin-bundle.sh rs-hello examples/hello/plugin.json

bench:
	bash scripts/bench.sh

bench-plugin:
	bash scripts/bench-plugin.sh

e2e:
	bash tests/e2e/run.sh

transforms:
	bash scripts/transforms.sh

bench-transforms: transforms
	cargo run -q --release -p datasync --features wasmtime --example transform_bench

bench-e2e:
	E2E_BENCH=1 bash tests/e2e/run.sh

check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p datasync --features wasmtime --all-targets -- -D warnings

gob-golden:
	cd server/gob/tests/golden && go run . gen ../data

clean:
	cargo clean
	rm -rf dist
