# chorus — top-level commands. See README.md.
#   make          build build/chorusd (release, -O2)
#   make run      install what is missing, build, start chorusd with embedded backends
#   make test     install what is missing, build release and ASan+UBSan, run unit + black-box tests
#   make bench    install what is missing, build, run the benchmarks in bench/
#   make feedlab  the feed lab (bench/feedlab): cost model, then the driver against chorusd
JOBS ?= $(shell nproc)
PY   := /usr/bin/python3

.PHONY: all deps run run-cluster test unit blackbox bench feedlab clean

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
test: build/chorusd build-asan/chorusd
	cd build-asan && ctest --output-on-failure
	scripts/blackbox.sh $(CURDIR)/build-asan/chorusd

bench: build/chorusd
	@scripts/deps.sh bench
	bench/http/run.sh
	bench/engage/run.sh
	bench/loginflood/run.sh
	bench/fanout/run.sh
	bench/hcache/run.sh
	bench/feedhome/run.sh
	bench/reads/run.sh
	build/feedlab_costmodel

feedlab: build/chorusd
	@scripts/deps.sh bench
	build/feedlab_costmodel
	bench/feedlab/run.sh

clean:
	rm -rf build build-asan

FORCE:
