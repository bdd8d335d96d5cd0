# lastmile: `make run` runs the main job on the embedded corpora, `make test` the tests.
# Builds go to a target dir outside the clone so that fresh clones (and CI) reuse it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/lastmile-target
export CARGO_TARGET_DIR
CARGO ?= cargo
LASTMILE = $(CARGO) run --quiet --locked --bin lastmile --

.PHONY: run mine test bench check-toolchain clean

## run: the main job (for now: mine every corpus with the default configs)
run: mine

mine:
	$(LASTMILE) mine

## test: the whole test suite (unit, calibration, end-to-end CLI)
test:
	$(CARGO) test --locked

## bench: throughput benchmarks in the release-like bench profile
bench:
	$(CARGO) bench --locked --bench mining
	$(CARGO) bench --locked --bench model_step

clean:
	rm -rf outputs
