# lastmile: `make run` runs the main job on the embedded corpora, `make test` the tests.
# Builds go to a target dir outside the clone so that fresh clones (and CI) reuse it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/lastmile-target
export CARGO_TARGET_DIR
CARGO ?= cargo
LASTMILE = $(CARGO) run --quiet --locked --bin lastmile --

.PHONY: run run-python mine test bench check-toolchain clean

## run: the nightly build on the embedded default (Excel): mine -> tokenizer ->
## pretrain -> rollout (20K pairs) -> stats; stages are cached, a rerun redoes only what changed
run:
	$(LASTMILE) pipeline run pipelines/excel-nightly.toml

## run-python: the same pipeline for Python
run-python:
	$(LASTMILE) pipeline run pipelines/python-nightly.toml

## mine: mine every corpus with the default configs
mine:
	$(LASTMILE) mine

## test: the whole test suite (unit, calibration, end-to-end CLI)
test:
	$(CARGO) test --locked

## bench: throughput benchmarks in the release-like bench profile
bench:
	$(CARGO) bench --locked --bench mining
	$(CARGO) bench --locked --bench model_step
	$(CARGO) bench --locked --bench rollout

clean:
	rm -rf outputs
