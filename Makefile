# lastmile: `make run` runs the main job on the embedded corpora, `make test` the tests.
# Builds go to a target dir outside the clone so that fresh clones (and CI) reuse it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/lastmile-target
export CARGO_TARGET_DIR
CARGO ?= cargo
# data-parallel pretraining over MPI where an MPI library and libclang are there
# (.ci/run installs them); one feature set for every command, so that `make test`
# and `make run` share one build
FEATURES ?= $(if $(and $(shell command -v mpicc 2>/dev/null),$(shell ldconfig -p 2>/dev/null | grep -m1 libclang)),--features mpi,)
comma := ,
LASTMILE = $(CARGO) run --quiet --locked $(FEATURES) --bin lastmile --


.PHONY: corpora-powershell eval-model-powershell data-quality-python check-python-pairs fuzz kill-soak disk-faults eval-model-python eval-nl2code nl2code-cf nl2code-bash nl2code-python fixer-pretrain data-quality-pretrained corpora-python example-analytics example-finetune build-cuda run run-python run-powershell eval eval-model data-quality check-loaders mine test same-bytes bench grammar check-toolchain clean

## run: the nightly build on the embedded default (Excel): mine -> continued pretraining
## of the shipped model (models/excel) -> denoiser check -> rollout (20K pairs) -> stats;
## stages are cached, a rerun redoes only what changed
run:
	$(LASTMILE) pipeline run pipelines/excel-nightly.toml

## corpora-python: the pinned, hash-checked PyPI packages of the Python corpus
## (corpora/python/packages.lock) unpacked into corpora/python/packages; once per clone,
## offline afterwards
corpora-python:
	python3 scripts/fetch-python-packages.py

## corpora-powershell: the PowerShell module scripts and reference docs of the committed,
## hash-checked archive corpora/powershell/sources.tar.xz unpacked beside it
corpora-powershell:
	python3 scripts/unpack-powershell-corpus.py

## run-python, run-powershell: the same pipeline for Python and PowerShell
run-python: corpora-python
	$(LASTMILE) pipeline run pipelines/python-nightly.toml
run-powershell: corpora-powershell
	$(LASTMILE) pipeline run pipelines/powershell-nightly.toml

## eval: the repair benchmarks with the nightly checkpoints (needs `make run` and
## the pretrain stages of the other two: `lastmile pipeline run ... --until pretrain`),
## then Table 1/3 across languages in outputs/eval/summary.md (docs/results.md), by
## the paper's method (the default, error-localised repair, is `make eval-model`)
EVAL = $(LASTMILE) eval repair --method paper --stride 60
eval:
	$(EVAL) --bench corpora/benchmarks/repair/excel.json --lang excel -k 5 \
	  --checkpoint outputs/nightly/excel/run/checkpoint --out outputs/eval/excel-nightly
	$(EVAL) --bench corpora/benchmarks/pydex --lang python --levels 0.1,0.2,0.3 -k 5 \
	  --checkpoint outputs/nightly/python/run/checkpoint --out outputs/eval/python-nightly
	$(EVAL) --bench corpora/benchmarks/repair/powershell.json --lang powershell --levels 0.1,0.2,0.3 -k 5 \
	  --checkpoint outputs/nightly/powershell/run/checkpoint --out outputs/eval/powershell-nightly
	$(LASTMILE) eval summary outputs/eval/excel-nightly/results.json outputs/eval/python-nightly/results.json \
	  outputs/eval/powershell-nightly/results.json --out outputs/eval/summary.md

## eval-model: the numbers of models/excel/MODEL_CARD.md for the shipped model:
## per-t accuracy, fidelity (repair of the benchmark's correct formulas, by the default
## localised method and by the paper's), the paper's whole-formula method read out under
## the checker (k = 5), the Excel benchmark (the default method:
## error-localised, checker-constrained; every method's row; pass@1/3/5 at level 0.3),
## slips that parse (one per benchmark fix, scripts/excel-parsing-slips.py), unconditional
## samples
MODEL ?= models/excel
MODEL_EVAL ?= outputs/eval/excel-model
# the paper's whole-snippet method read out under the checker (docs/repair.md), every language
PAPER_CONSTRAINED = --method paper --constrained --levels 0.05,0.1 --stride 60 --clamp --likelihood 1 \
  --readout-top-k 64 --readout-budget 8192 --readout-alternatives 4
eval-model:
	$(LASTMILE) mine --lang excel --quiet
	$(LASTMILE) eval denoiser --checkpoint $(MODEL) --corpus outputs/corpus/excel --examples 512 \
	  --t 0,60,120,240,420,600,900,1199 --out $(MODEL_EVAL)/denoiser
	python3 -c "import json; b=json.load(open('corpora/benchmarks/repair/excel.json')); \
	  json.dump([{'Buggy': i['GroundTruth'], 'GroundTruth': i['GroundTruth']} for i in b], open('outputs/eval/identity.json', 'w'))"
	$(LASTMILE) eval repair --bench outputs/eval/identity.json --checkpoint $(MODEL) --lang excel -k 1 \
	  --out $(MODEL_EVAL)/fidelity
	$(LASTMILE) eval repair --bench outputs/eval/identity.json --checkpoint $(MODEL) --lang excel --method paper \
	  --levels 0.1 -k 1 --stride 60 --out $(MODEL_EVAL)/fidelity-paper
	$(LASTMILE) eval repair --bench outputs/eval/identity.json --checkpoint $(MODEL) --lang excel --method paper \
	  --levels 0.05 -k 1 --stride 60 --clamp --likelihood 1 --out $(MODEL_EVAL)/fidelity-likelihood
	$(LASTMILE) eval repair --bench outputs/eval/identity.json --checkpoint $(MODEL) --lang excel $(PAPER_CONSTRAINED) -k 1 \
	  --out $(MODEL_EVAL)/fidelity-paper-constrained
	$(LASTMILE) eval repair --bench corpora/benchmarks/repair/excel.json --checkpoint $(MODEL) --lang excel $(PAPER_CONSTRAINED) -k 5 \
	  --out $(MODEL_EVAL)/bench-paper-constrained
	$(LASTMILE) eval repair --bench corpora/benchmarks/repair/excel.json --checkpoint $(MODEL) --lang excel -k 1 \
	  --out $(MODEL_EVAL)/bench
	python3 scripts/excel-parsing-slips.py "$(LASTMILE)" corpora/benchmarks/repair/excel.json outputs/eval/excel-parsing-slips.json
	$(LASTMILE) eval repair --bench outputs/eval/excel-parsing-slips.json --checkpoint $(MODEL) --lang excel -k 1 \
	  --out $(MODEL_EVAL)/parsing-slips
	$(LASTMILE) eval repair --bench corpora/benchmarks/repair/excel.json --checkpoint $(MODEL) --lang excel --levels 0.3 -k 5 \
	  --out $(MODEL_EVAL)/bench-passk
	$(LASTMILE) sample --checkpoint $(MODEL) --n 200 --steps 50 --clamp --update ddpm --lang excel \
	  --out $(MODEL_EVAL)/samples.jsonl
	$(LASTMILE) sample --checkpoint $(MODEL) --n 200 --steps 50 --clamp --update ddpm --lang excel \
	  --lengths outputs/corpus/excel --out $(MODEL_EVAL)/samples-lengths.jsonl
	$(LASTMILE) sample --checkpoint $(MODEL) --n 200 --steps 50 --clamp --update ddpm --lang excel \
	  --lengths outputs/corpus/excel --constrained --out $(MODEL_EVAL)/samples-constrained.jsonl
	$(LASTMILE) sample --checkpoint $(MODEL) --n 200 --steps 50 --clamp --update ddpm --lang excel \
	  --lengths outputs/corpus/excel --constrained --repair-rounds 8 --out $(MODEL_EVAL)/samples-repaired.jsonl
	python3 scripts/check-samples.py $(MODEL_EVAL)/samples.jsonl $(MODEL_EVAL)/samples-lengths.jsonl \
	  $(MODEL_EVAL)/samples-constrained.jsonl $(MODEL_EVAL)/samples-repaired.jsonl | tee $(MODEL_EVAL)/samples.md

## eval-model-python: the numbers of models/python/MODEL_CARD.md: per-t accuracy on
## held-out units, PyDex zero-shot (default localised method, and the paper's
## whole-program method), fidelity (the 224 correct PyDex programs as inputs), and
## unconditional samples judged by CPython's `ast` (as sampled, and after the model's
## own repair: `sample --repair-rounds`)
PY_MODEL ?= models/python
PY_EVAL ?= outputs/eval/python-model
eval-model-python: corpora-python
	$(LASTMILE) mine --lang python --quiet
	$(LASTMILE) eval denoiser --checkpoint $(PY_MODEL) --corpus outputs/corpus/python --examples 256 \
	  --t 0,60,120,240,420,600,900,1199 --out $(PY_EVAL)/denoiser
	python3 scripts/python-eval-inputs.py corpora/benchmarks/pydex outputs/eval/pydex-identity.json
	$(LASTMILE) eval repair --bench corpora/benchmarks/pydex --checkpoint $(PY_MODEL) --lang python -k 1 \
	  --out $(PY_EVAL)/pydex
	$(LASTMILE) eval repair --bench corpora/benchmarks/pydex --checkpoint $(PY_MODEL) --lang python --method paper \
	  --levels 0.1,0.2,0.3 -k 1 --stride 60 --clamp --out $(PY_EVAL)/pydex-paper
	$(LASTMILE) eval repair --bench outputs/eval/pydex-identity.json --checkpoint $(PY_MODEL) --lang python -k 1 \
	  --out $(PY_EVAL)/fidelity
	$(LASTMILE) eval repair --bench outputs/eval/pydex-identity.json --checkpoint $(PY_MODEL) --lang python --method paper \
	  --levels 0.1 -k 1 --stride 60 --clamp --out $(PY_EVAL)/fidelity-paper
	$(LASTMILE) eval repair --bench outputs/eval/pydex-identity.json --checkpoint $(PY_MODEL) --lang python --method paper \
	  --levels 0.05 -k 1 --stride 60 --clamp --likelihood 1 --out $(PY_EVAL)/fidelity-likelihood
	$(LASTMILE) eval repair --bench corpora/benchmarks/pydex --checkpoint $(PY_MODEL) --lang python --method paper \
	  --levels 0.05,0.1,0.2 -k 1 --stride 60 --clamp --likelihood 1 --out $(PY_EVAL)/pydex-likelihood
	$(LASTMILE) eval repair --bench corpora/benchmarks/pydex --checkpoint $(PY_MODEL) --lang python $(PAPER_CONSTRAINED) -k 1 \
	  --out $(PY_EVAL)/pydex-paper-constrained
	$(LASTMILE) sample --checkpoint $(PY_MODEL) --n 100 --steps 50 --clamp --update ddpm --lang python \
	  --lengths outputs/corpus/python --out $(PY_EVAL)/samples.jsonl
	$(LASTMILE) sample --checkpoint $(PY_MODEL) --n 100 --steps 50 --clamp --update ddpm --lang python \
	  --lengths outputs/corpus/python --repair-rounds 8 --out $(PY_EVAL)/samples-repaired.jsonl
	python3 scripts/check-python-samples.py $(PY_EVAL)/samples.jsonl $(PY_EVAL)/samples-repaired.jsonl \
	  | tee $(PY_EVAL)/samples.md

## eval-model-powershell: the numbers of models/powershell/MODEL_CARD.md: per-t
## accuracy on held-out units, the repair benchmark zero-shot (the default localised
## method, pass@1..5 at level 0.1, the paper's whole-program method; exact match and
## commands known), fidelity (the benchmark's fixed commands as inputs), and the
## default method with and without repair sites on the items whose fix inserts `& `
PS_MODEL ?= models/powershell
PS_EVAL ?= outputs/eval/powershell-model
PS_BENCH = corpora/benchmarks/repair/powershell.json
eval-model-powershell: corpora-powershell
	$(LASTMILE) mine --lang powershell --quiet
	$(LASTMILE) eval denoiser --checkpoint $(PS_MODEL) --corpus outputs/corpus/powershell --examples 256 \
	  --t 0,60,120,240,600,1199 --out $(PS_EVAL)/denoiser
	python3 -c "import json; b=json.load(open('$(PS_BENCH)')); \
	  json.dump([{'Buggy': i['GroundTruth'], 'GroundTruth': i['GroundTruth']} for i in b], open('outputs/eval/powershell-identity.json', 'w'))"
	$(LASTMILE) eval repair --bench $(PS_BENCH) --checkpoint $(PS_MODEL) --lang powershell -k 1 --out $(PS_EVAL)/bench
	$(LASTMILE) eval repair --bench $(PS_BENCH) --checkpoint $(PS_MODEL) --lang powershell --levels 0.1 -k 5 \
	  --out $(PS_EVAL)/bench-passk
	$(LASTMILE) eval repair --bench $(PS_BENCH) --checkpoint $(PS_MODEL) --lang powershell --method paper \
	  --levels 0.1,0.2,0.3 -k 5 --stride 60 --clamp --out $(PS_EVAL)/bench-paper
	$(LASTMILE) eval repair --bench $(PS_BENCH) --checkpoint $(PS_MODEL) --lang powershell $(PAPER_CONSTRAINED) -k 1 \
	  --out $(PS_EVAL)/bench-paper-constrained
	$(LASTMILE) eval repair --bench outputs/eval/powershell-identity.json --checkpoint $(PS_MODEL) --lang powershell -k 1 \
	  --out $(PS_EVAL)/fidelity
	$(LASTMILE) eval repair --bench outputs/eval/powershell-identity.json --checkpoint $(PS_MODEL) --lang powershell \
	  --method paper --levels 0.1 -k 1 --stride 60 --clamp --out $(PS_EVAL)/fidelity-paper
	$(LASTMILE) eval repair --bench outputs/eval/powershell-identity.json --checkpoint $(PS_MODEL) --lang powershell \
	  --method paper --levels 0.05 -k 1 --stride 60 --clamp --likelihood 1 --out $(PS_EVAL)/fidelity-likelihood
	python3 scripts/powershell-call-operator-items.py $(PS_BENCH) outputs/eval/powershell-call-operator.json
	$(LASTMILE) eval repair --bench outputs/eval/powershell-call-operator.json --checkpoint $(PS_MODEL) --lang powershell \
	  -k 1 --out $(PS_EVAL)/call-operator
	$(LASTMILE) eval repair --bench outputs/eval/powershell-call-operator.json --checkpoint $(PS_MODEL) --lang powershell \
	  -k 1 --no-sites --out $(PS_EVAL)/call-operator-no-sites

## data-quality: the Table 4 analog (after `make run`): a fixer per pair source
## (lastmile, rules, 50/50 mix, identity control) and seed (0 1 2), one recipe
## (configs/fixer/recipe.toml), scored on the Excel benchmark; McNemar between
## sources; outputs/data-quality/report.md. Resumable.
data-quality:
	LASTMILE="$(LASTMILE)" scripts/data-quality.sh

## data-quality-python: the same for Python (after `make run-python`): lastmile pairs
## against the BIFI-style rule pairs, seeds 0 1 2, configs/fixer/python.toml, scored on
## PyDex by the BIFI metric; outputs/data-quality/python/report.md. Resumable.
data-quality-python:
	LASTMILE="$(LASTMILE)" OUT=outputs/data-quality/python LASTMILE_DATA=outputs/datasets/python-nightly \
	  RULES_DATA=outputs/datasets/python-rules BENCH=corpora/benchmarks/pydex BENCH_LANG=python \
	  RECIPE=configs/fixer/python.toml TOKENIZER=models/python/tokenizer.json SOURCE_NAMES="lastmile rules" \
	  RUN_FIRST="make run-python" scripts/data-quality.sh

## fixer-pretrain: the pretrained downstream fixer models/fixer-excel (6.75M parameters,
## text infilling on the mined Excel corpus, configs/fixer/pretrain-excel.toml; resumable
## with a checkpoint every 100 steps; `FIXER_STOP_AFTER=N` stops after N steps in all and
## ships the weights reached)
FIXER_STOP_AFTER ?=
fixer-pretrain:
	$(LASTMILE) mine --lang excel
	$(LASTMILE) fixer train --pairs denoise:outputs/corpus/excel --tokenizer models/excel/tokenizer.json \
	  --recipe configs/fixer/pretrain-excel.toml --resume $(if $(FIXER_STOP_AFTER),--stop-after $(FIXER_STOP_AFTER),) -o outputs/fixers/pretrain-excel
	mkdir -p models/fixer-excel
	cp outputs/fixers/pretrain-excel/config.json outputs/fixers/pretrain-excel/tokenizer.json outputs/fixers/pretrain-excel/recipe.json models/fixer-excel/
	cp $$(ls outputs/fixers/pretrain-excel/model.safetensors 2>/dev/null || echo outputs/fixers/pretrain-excel/checkpoint/model.safetensors) models/fixer-excel/model.safetensors

## data-quality-pretrained: the Table 4 analog in the users' regime (after `make run` and
## with models/fixer-excel): every fixer fine-tuned from the pretrained fixer
## (configs/fixer/pretrained.toml), into outputs/data-quality/<source>-pretrained-s<seed>, plus
## one seed of lastmile and rule pairs at 5K, 10K and 18K pairs; report.md puts both regimes
## side by side
data-quality-pretrained:
	LASTMILE="$(LASTMILE)" RECIPE=configs/fixer/pretrained.toml RUN_SUFFIX=-pretrained SCALING="5000 10000 18000" scripts/data-quality.sh

## check-loaders: the nightly datasets (after `make run`) load unmodified in Polars,
## pandas, pyarrow and Hugging Face `datasets` (installed into the user's site-packages
## when missing), with the same rows and columns in each
DATASETS ?= outputs/datasets/excel-nightly outputs/datasets/excel-rules
check-loaders:
	python3 -c "import polars, pandas, pyarrow, datasets" 2>/dev/null || python3 -m pip install --user --quiet polars pandas pyarrow datasets
	python3 scripts/check-loaders.py $(DATASETS)

## check-python-pairs: the Python nightly's pairs and the rule pairs (after `make
## run-python`) judged by CPython's `ast`: empty broken sides, broken sides rejected,
## fixed sides parsed, a few pairs to read (Polars installed into the user's
## site-packages when missing)
PY_DATASETS ?= outputs/datasets/python-nightly outputs/datasets/python-rules
check-python-pairs:
	python3 -c "import polars" 2>/dev/null || python3 -m pip install --user --quiet polars
	python3 scripts/check-python-pairs.py $(PY_DATASETS)

## eval-nl2code: NL-to-code on the test splits of corpora/benchmarks/nl2code/ (CF rules,
## Bash, Python): exact, CF execution, Bash template match, BLEU and validity at
## top-1/3/5 of the shipped models/nl2code-cf (its chains from noise, and from the 5
## nearest train programs), models/nl2code-bash (1 test item in 10)
## and models/nl2code-python beside the retrieval floor and the autoregressive
## baselines (trained first when missing, ~6, ~30 and ~15 min), then the first
## candidates judged by CPython's `ast` and `bash -n` (docs/evaluation.md,
## docs/nl2code.md)
NL2CODE_EVAL ?= outputs/eval/nl2code
NL2CODE_AR_CF := outputs/nl2code/ar-cf
NL2CODE_AR_PYTHON := outputs/nl2code/ar-python
NL2CODE_AR_BASH := outputs/nl2code/ar-bash
$(NL2CODE_AR_CF)/model.safetensors: configs/fixer/nl2code-cf.toml corpora/benchmarks/nl2code/cfrule.json models/nl2code-cf/tokenizer.json
	$(LASTMILE) fixer train --pairs corpora/benchmarks/nl2code/cfrule.json --tokenizer models/nl2code-cf/tokenizer.json --recipe configs/fixer/nl2code-cf.toml --resume -o $(NL2CODE_AR_CF)
$(NL2CODE_AR_PYTHON)/model.safetensors: configs/fixer/nl2code-python.toml corpora/benchmarks/nl2code/python.json models/nl2code-python/tokenizer.json
	$(LASTMILE) fixer train --pairs literals=4:corpora/benchmarks/nl2code/python.json --tokenizer models/nl2code-python/tokenizer.json --recipe configs/fixer/nl2code-python.toml --resume -o $(NL2CODE_AR_PYTHON)
$(NL2CODE_AR_BASH)/model.safetensors: configs/fixer/nl2code-bash.toml corpora/benchmarks/nl2code/bash.json models/nl2code-bash/tokenizer.json
	$(LASTMILE) fixer train --pairs literals=2:corpora/benchmarks/nl2code/bash.json --tokenizer models/nl2code-bash/tokenizer.json --recipe configs/fixer/nl2code-bash.toml --resume -o $(NL2CODE_AR_BASH)
eval-nl2code: $(NL2CODE_AR_CF)/model.safetensors $(NL2CODE_AR_PYTHON)/model.safetensors $(NL2CODE_AR_BASH)/model.safetensors
	$(LASTMILE) eval nl2code --bench corpora/benchmarks/nl2code/cfrule.json --lang cf --checkpoint models/nl2code-cf --length 32 --alternatives 4 --exemplars 5 --exemplar-level 0.3 --fixer $(NL2CODE_AR_CF) --out $(NL2CODE_EVAL)/cf
	$(LASTMILE) eval nl2code --bench corpora/benchmarks/nl2code/python.json --lang python --checkpoint models/nl2code-python --lengths 6,8,10,12,14,16,20,24 --fixer $(NL2CODE_AR_PYTHON) --out $(NL2CODE_EVAL)/python
	$(LASTMILE) eval nl2code --bench corpora/benchmarks/nl2code/bash.json --lang bash --checkpoint models/nl2code-bash --lengths 8,10,12,14,16,18,20,24,28,32 --every 10 --fixer $(NL2CODE_AR_BASH) --out $(NL2CODE_EVAL)/bash
	python3 scripts/check-nl2code.py $(NL2CODE_EVAL)/python/results.json $(NL2CODE_EVAL)/bash/results.json

## nl2code-cf, nl2code-bash: train models/nl2code-<lang> again from its benchmark and
## corpus: mine, tokenizer (code and train utterances), code-only pretraining
## (configs/train/<lang>.toml), NL-to-code fine-tuning with the encoder added
## (configs/train/nl2code-<lang>.toml), for CF a last stage with literal slots
## (configs/train/nl2code-cf-slots.toml), export; each training stage resumes where it stopped
NL2CODE_BENCH_cf := cfrule
NL2CODE_VOCAB_cf := 2048
NL2CODE_BENCH_bash := bash
NL2CODE_VOCAB_bash := 4096
# CF's last stage: the same pairs with literal slots (configs/train/nl2code-cf-slots.toml)
NL2CODE_LAST_STAGE_cf := $(LASTMILE) nl2code train --config configs/train/nl2code-cf-slots.toml --resume
NL2CODE_EXPORT_cf := nl2code-cf-slots
NL2CODE_LAST_STAGE_bash := true
NL2CODE_EXPORT_bash := nl2code-bash
nl2code-cf nl2code-bash: nl2code-%:
	$(LASTMILE) mine --lang $*
	mkdir -p outputs/tokenizers/$*
	$(LASTMILE) tokenizer train --corpus outputs/corpus/$* --utterances corpora/benchmarks/nl2code/$(NL2CODE_BENCH_$*).json --vocab-size $(NL2CODE_VOCAB_$*) -o outputs/tokenizers/$*/tokenizer.json
	$(LASTMILE) pretrain --config configs/train/$*.toml --resume
	$(LASTMILE) nl2code train --config configs/train/nl2code-$*.toml --resume
	$(NL2CODE_LAST_STAGE_$*)
	$(LASTMILE) model export --checkpoint outputs/runs/$(NL2CODE_EXPORT_$*)/checkpoint --out models/nl2code-$*

## nl2code-python: fine-tune models/nl2code-python again on CoNaLa's train split from the
## shipped code-only models/python (its tokenizer, the encoder added), resuming where it
## stopped, and export it
nl2code-python:
	$(LASTMILE) nl2code train --config configs/train/nl2code-python.toml --resume
	$(LASTMILE) model export --checkpoint outputs/runs/nl2code-python/checkpoint --out models/nl2code-python

## example-analytics, example-finetune: the users' stack on make run's datasets
## (examples/, docs/datasets.md): Polars analytics of the nightly and rule-based pairs;
## a Hugging Face T5 fine-tuned on the nightly pairs, its predictions scored by
## `lastmile eval predictions`. Their Python packages (examples/requirements.txt) go
## into outputs/examples/venv.
EXAMPLES_VENV := outputs/examples/venv
$(EXAMPLES_VENV)/.installed: examples/requirements.txt
	python3 -m venv $(EXAMPLES_VENV)
	$(EXAMPLES_VENV)/bin/pip install --quiet -r examples/requirements.txt
	touch $@
example-analytics: $(EXAMPLES_VENV)/.installed
	$(EXAMPLES_VENV)/bin/python examples/analytics.py outputs/datasets/excel-nightly outputs/datasets/excel-rules
example-finetune: $(EXAMPLES_VENV)/.installed
	$(CARGO) build --quiet --locked $(FEATURES) --bin lastmile
	$(EXAMPLES_VENV)/bin/python examples/finetune_seq2seq.py --dataset outputs/datasets/excel-nightly \
	  --tokenizer models/excel/tokenizer.json --bench corpora/benchmarks/repair/excel.json --lang excel \
	  --out outputs/examples/finetune --lastmile $(CARGO_TARGET_DIR)/debug/lastmile

## mine: mine every corpus with the default configs
mine: corpora-python corpora-powershell
	$(LASTMILE) mine

## grammar: regenerate the vendored PowerShell parser from its patched grammar.js
GRAMMAR_DIR := vendor/tree-sitter-powershell
grammar:
	$(CARGO) install tree-sitter-cli --version 0.26.13 --locked --no-default-features --root outputs/tools
	cd $(GRAMMAR_DIR) && $(CURDIR)/outputs/tools/bin/tree-sitter generate

## test: the whole test suite (unit, calibration, end-to-end CLI)
test:
	$(CARGO) test --locked --workspace $(FEATURES)

## fuzz: every input surface (tests/fuzz/main.rs) for FUZZ_SECONDS per target, or for
## FUZZ_INPUTS inputs per target when set, FUZZ_JOBS targets at a time; the table of
## docs/reliability.md in outputs/fuzz/report.md. A stopped run resumes at the targets it
## had not finished (outputs/fuzz/outcomes/). Failing inputs are kept under the build's
## tmp dir, to be copied to tests/fuzz/regressions/<target>/ once fixed
FUZZ_SECONDS ?= 60
FUZZ_INPUTS ?=
FUZZ_JOBS ?= 1
FUZZ_SEED ?= 1
FUZZ_BUDGET = $(if $(FUZZ_INPUTS),--iterations $(FUZZ_INPUTS),--seconds $(FUZZ_SECONDS))
fuzz:
	$(CARGO) test --locked $(FEATURES) --test fuzz -- $(FUZZ_BUDGET) --jobs $(FUZZ_JOBS) --seed $(FUZZ_SEED) --report outputs/fuzz/report.md

## kill-soak: every long stage killed with SIGKILL at random points and resumed, compared
## with an uninterrupted run (scripts/kill-soak.py); disk-faults: mine, pretrain and
## rollout on a full and on a read-only file system (root, Linux; scripts/disk-faults.py).
## Results in docs/reliability.md
KILLS ?= 20
kill-soak:
	$(CARGO) build --quiet --locked $(FEATURES) --bin lastmile
	python3 scripts/kill-soak.py --lastmile $(CARGO_TARGET_DIR)/debug/lastmile --kills $(KILLS)
disk-faults:
	$(CARGO) build --quiet --locked $(FEATURES) --bin lastmile
	python3 scripts/disk-faults.py --lastmile $(CARGO_TARGET_DIR)/debug/lastmile

## same-bytes: a refactor changes no output: one seeded mine -> tokenizer -> pretrain ->
## rollout with REF's binary and HEAD's, every shard and checkpoint compared by sha256
REF ?= origin/main
same-bytes:
	scripts/same-bytes.sh $(REF)

## build-cuda: the CUDA + NCCL binary (data-parallel pretraining on GPUs), built
## without a GPU or a system toolkit: scripts/cuda-toolkit.sh installs CUDA 13.2 and
## NCCL from PyPI wheels (CUDA_COMPUTE_CAP, default 90, picks the architecture). The
## binary goes to $(CARGO_TARGET_DIR)/cuda/lastmile, so that the CPU build `make run`
## and `make test` use stays where it is (the two share every other artifact)
build-cuda:
	rm -f $(CARGO_TARGET_DIR)/debug/lastmile
	eval "$$(scripts/cuda-toolkit.sh)" && $(CARGO) build --locked --features cuda,nccl$(if $(FEATURES),$(comma)mpi) --bin lastmile
	mkdir -p $(CARGO_TARGET_DIR)/cuda && mv -f $(CARGO_TARGET_DIR)/debug/lastmile $(CARGO_TARGET_DIR)/cuda/lastmile
	@echo "built $(CARGO_TARGET_DIR)/cuda/lastmile; run it with the libraries on the path: eval \"\$$(scripts/cuda-toolkit.sh)\""

## bench: throughput benchmarks in the release-like bench profile
bench:
	$(CARGO) bench --locked $(FEATURES) --bench mining
	$(CARGO) bench --locked $(FEATURES) --bench model_step
	$(CARGO) bench --locked $(FEATURES) --bench rollout
	$(CARGO) bench --locked $(FEATURES) --bench repair

clean:
	rm -rf outputs
