# swift-grm: the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
RELEASE = -c release

.PHONY: run test build bench deps weights clean

## Build in release mode and run the main job (until inference lands: machine report + kernel benchmarks).
run: deps build
	./.build/release/grm info
	./.build/release/grm bench kernels --quick

## Build and run the whole test suite, optimised (SIMD code is 10-100x slower unoptimised).
test: deps weights
	$(SWIFT) test $(RELEASE) -Xswiftc -enable-testing

build:
	$(SWIFT) build $(RELEASE)

## The default model (SmolLM2-135M-Instruct Q4_1) that the tokenizer and model tests read.
weights:
	bash weights/fetch.sh

## Full kernel microbenchmarks: ours vs OpenBLAS as shipped vs OpenBLAS SkylakeX, one run.
bench: deps build
	./.build/release/grm bench kernels

## The only system dependency: OpenBLAS (Debian: libopenblas-dev).
deps:
	@if [ ! -e /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -e /usr/include/cblas.h ] && \
	    [ ! -e /usr/include/aarch64-linux-gnu/cblas.h ]; then \
		echo "OpenBLAS headers missing: installing libopenblas-dev"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libopenblas-dev; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq libopenblas-dev; fi; \
	fi

clean:
	rm -rf .build
