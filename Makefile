# Omnistock: two commands do everything on a fresh Debian machine with the Swift toolchain.
#   make run   installs what is missing, builds, and serves on an embedded PostgreSQL with demo data
#   make test  runs the whole test suite on its own throwaway PostgreSQL cluster
.PHONY: run test build release tools smoke clean

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

smoke: build
	bash scripts/smoke.sh

clean:
	rm -rf .build
