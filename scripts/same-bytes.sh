#!/usr/bin/env bash
# Same bytes out as another commit: builds REF (default: origin/main) in a git
# worktree, runs one seeded mine -> tokenizer -> pretrain -> rollout with both
# binaries and compares the sha256 of every corpus shard, checkpoint tensor file
# and dataset shard (whole-snippet, windowed and unconditional chains, rule-based
# corruptions). For refactors that must not change behaviour:
#   make same-bytes REF=3304e20
set -euo pipefail
ref=${1:-origin/main}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/ref" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lastmile-target}

cargo build --quiet --manifest-path "$root/Cargo.toml"
cp "$CARGO_TARGET_DIR/debug/lastmile" "$work/lastmile-head"
git -C "$root" worktree add --quiet --detach "$work/ref" "$ref"
# the same profiles, so that only the source differs (a REF from before the
# workspace keeps its own manifest: its crates' paths differ)
if [ -d "$work/ref/crates" ]; then cp "$root/Cargo.toml" "$work/ref/Cargo.toml"; fi
cargo build --quiet --manifest-path "$work/ref/Cargo.toml"
cp "$CARGO_TARGET_DIR/debug/lastmile" "$work/lastmile-ref"
cargo build --quiet --manifest-path "$root/Cargo.toml" # leave the cache at HEAD

run() { # BIN DIR
    local bin=$1 d=$2
    mkdir -p "$d"
    (
        cd "$root"
        "$bin" mine --quiet --lang excel --out "$d/corpus"
        "$bin" tokenizer train --quiet --corpus "$d/corpus/excel" --vocab-size 512 --out "$d/tok.json"
        cat >"$d/train.toml" <<T
model = "configs/model/tiny-excel.toml"
corpus = "$d/corpus/excel"
tokenizer = "$d/tok.json"
out = "$d/run"
seed = 7
batch_size = 8
lr = 5e-4
warmup_steps = 5
grad_clip = 1.0
max_steps = 12
eval_every = 6
eval_batches = 1
checkpoint_every = 6
cpd_prob = 0.3
lr_decay_steps = 12
lr_min_ratio = 0.1
ema_decay = 0.9
T
        "$bin" pretrain --quiet --config "$d/train.toml"
        cat >"$d/rollout.toml" <<T
checkpoint = "$d/run/checkpoint"
lang = "excel"
out = "$d/data"
seed = 0
target_pairs = 300
max_chains = 512
chains_per_unit = 64
batch_size = 64
valid_fraction = 0.02
selection = "all_distinct"
[sampler]
stride = 200
clamp = false
update = "ddpm"
[[source]]
kind = "anchored"
weight = 0.5
corpus = "$d/corpus/excel"
t0 = [0.02, 0.35]
[[source]]
kind = "anchored"
weight = 0.3
corpus = "$d/corpus/excel"
t0 = [0.1, 0.6]
[source.window]
width = [1, 2]
inserts = [0, 1]
change = true
structural_weight = 100.0
vocabulary = "family"
classes = { bracket = 6.0, separator = 8.0, end = 0.5, last = 4.0 }
[[source]]
kind = "rules"
weight = 0.1
corpus = "$d/corpus/excel"
[[source]]
kind = "unconditional"
weight = 0.1
[filter]
min_token_edits = 1
max_token_edits = 4
broken = "any"
[[decontaminate]]
path = "corpora/benchmarks/repair/excel.json"
fields = ["Buggy", "GroundTruth"]
[output]
shard_rows = 50000
row_group_rows = 8192
T
        "$bin" rollout --quiet --config "$d/rollout.toml"
    )
    (cd "$d" && sha256sum corpus/excel/*.parquet run/checkpoint/*.safetensors data/data/*.parquet data/chains.parquet)
}

run "$work/lastmile-ref" "$work/out-ref" >"$work/ref.sha"
run "$work/lastmile-head" "$work/out-head" >"$work/head.sha"
cat "$work/head.sha"
if diff "$work/ref.sha" "$work/head.sha"; then
    echo "same bytes as $ref: corpus, checkpoint (model, EMA, optimizer), dataset shards and chains"
else
    echo "DIFFERENT from $ref (above)" >&2
    exit 1
fi
