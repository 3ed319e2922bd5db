# Omnistock: two commands do everything on a fresh Debian machine with the Swift toolchain.
#   make run   installs what is missing, builds, and serves on an embedded PostgreSQL with demo data
#   make test  runs the whole test suite on its own throwaway PostgreSQL cluster
.PHONY: run test build release tools smoke bench schemathesis ha-test clean

# Settings for `make run`, overridable: make run PORT=9090 DATA_DIR=/var/lib/omnistock
PORT ?= 8080
HOST ?= 127.0.0.1
DATA_DIR ?= .omnistock

run: tools build
	.build/debug/oms serve --demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test:
	bash scripts/test.sh

build:
	swift build

release:
	swift build -c release

tools:
	bash scripts/ensure-tools.sh

# Figures, not tests: release build, ingest, availability under wrk, hold scenarios (random,
# flash sale, release/expiry churn) under wrk, store order journeys, replay of 1,000,000 events, and
# the raw PostgreSQL limit measured in the same run (see bench/bench.py; BENCH_SCENARIOS=holds or
# BENCH_SCENARIOS=orders for one alone).
bench: tools
	bash scripts/ensure-tools.sh --bench
	swift build -c release --product oms
	python3 bench/bench.py

smoke: build
	bash scripts/smoke.sh

# Schemathesis against the served OpenAPI document, every check, a fixed seed (scripts/schemathesis.py).
# Also a part of `make test`.
schemathesis: tools build
	python3 scripts/schemathesis.py

# The failover test of deploy/ha/ (Patroni, etcd, HAProxy; installed when missing): three
# PostgreSQL members on loopback, a crash and a switchover of the primary under a write load
# (scripts/ha-test.py; about 2 minutes). Not a part of `make test`. A release build, for its
# holds/s figures.
ha-test: tools
	bash scripts/ensure-tools.sh --ha
	swift build -c release --product oms
	OMS_BIN=.build/release/oms python3 scripts/ha-test.py

clean:
	rm -rf .build
