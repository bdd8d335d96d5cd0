#!/usr/bin/env bash
# make data-quality: the repair paper's Table 4 analog. After `make run` (which
# builds outputs/datasets/excel-nightly and outputs/datasets/excel-rules), train
# one fixer per pair source and seed with the one recipe (configs/fixer/recipe.toml),
# score each on the real Excel benchmark, and write outputs/data-quality/report.md.
# `make data-quality-python` sets the variables below for Python (after `make
# run-python`; PyDex, BIFI metric, configs/fixer/python.toml).
# `make data-quality-pretrained` fine-tunes the pretrained fixer (models/fixer-excel,
# configs/fixer/pretrained.toml) instead, into <source>-pretrained-s<seed>, and adds
# one seed of lastmile and rules pairs at 5K, 10K and 18K pairs (SCALING).
# Resumable: a finished fixer or evaluation is not redone; an interrupted one resumes.
set -euo pipefail
LASTMILE=${LASTMILE:-"cargo run --quiet --locked --bin lastmile --"}
OUT=${OUT:-outputs/data-quality}
SEEDS=${SEEDS:-"0 1 2"}
PAIRS=${PAIRS:-18000}
LASTMILE_DATA=${LASTMILE_DATA:-outputs/datasets/excel-nightly}
RULES_DATA=${RULES_DATA:-outputs/datasets/excel-rules}
BENCH=${BENCH:-corpora/benchmarks/repair/excel.json}
RECIPE=${RECIPE:-configs/fixer/recipe.toml}
TOKENIZER=${TOKENIZER:-models/excel/tokenizer.json}
BENCH_LANG=${BENCH_LANG:-excel}
SOURCE_NAMES=${SOURCE_NAMES:-"lastmile rules mix identity"}
RUN_FIRST=${RUN_FIRST:-"make run"}
RUN_SUFFIX=${RUN_SUFFIX:-}
SCALING=${SCALING:-}
for d in "$LASTMILE_DATA" "$RULES_DATA"; do
  [ -d "$d/data" ] || { echo "data-quality: $d is missing: run \`$RUN_FIRST\` first" >&2; exit 1; }
done
half=$((PAIRS / 2))
declare -A SOURCES=(
  [lastmile]="--pairs $LASTMILE_DATA:$PAIRS"
  [rules]="--pairs $RULES_DATA:$PAIRS"
  [mix]="--pairs $LASTMILE_DATA:$half --pairs $RULES_DATA:$half"
  [identity]="--pairs identity:$LASTMILE_DATA:$PAIRS"
)
start=$(date +%s)
mkdir -p "$OUT"
# train_and_score RUN SEED PAIRS-ARGS...: a fixer not yet trained is trained (or
# resumed), a fixer not yet scored is scored
train_and_score() {
  local run=$1 seed=$2
  shift 2
  if [ ! -f "$run/model.safetensors" ]; then
    echo "data-quality: training $run"
    $LASTMILE fixer train "$@" --tokenizer "$TOKENIZER" --recipe "$RECIPE" --seed "$seed" --out "$run" --resume
  fi
  if [ ! -f "$run/eval/results.json" ]; then
    echo "data-quality: scoring $run"
    $LASTMILE eval fixer --quiet --fixer "$run" --bench "$BENCH" --lang "$BENCH_LANG" --beam 5 --out "$run/eval"
  fi
}
for seed in $SEEDS; do
  for source in $SOURCE_NAMES; do
    # shellcheck disable=SC2086
    train_and_score "$OUT/$source$RUN_SUFFIX-s$seed" "$seed" ${SOURCES[$source]}
  done
done
# More or fewer pairs: one seed of the lastmile and rule sources at each count of
# $SCALING, as <source>-n<count><suffix>-s0 (the report's scaling table). The main
# runs' count is not trained twice: its seed-0 run stands in (a link). A count above
# what a dataset's train split holds stops with that reason.
for count in $SCALING; do
  for source in lastmile rules; do
    data=$LASTMILE_DATA
    [ "$source" = rules ] && data=$RULES_DATA
    run="$OUT/$source-n$count$RUN_SUFFIX-s0"
    if [ "$count" = "$PAIRS" ] && [ ! -e "$run" ]; then
      ln -s "$source$RUN_SUFFIX-s0" "$run"
      continue
    fi
    train_and_score "$run" 0 --pairs "$data:$count"
  done
done
$LASTMILE eval data-quality --dir "$OUT" --seconds "$(( $(date +%s) - start ))"
