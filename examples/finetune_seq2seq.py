#!/usr/bin/env python3
"""Fine-tune a seq2seq repair model on a lastmile dataset with Hugging Face, then score
its predictions on a repair benchmark with `lastmile eval predictions`.

    python3 examples/finetune_seq2seq.py --dataset outputs/datasets/excel-nightly \
        --tokenizer models/excel/tokenizer.json --bench corpora/benchmarks/repair/excel.json \
        --out outputs/examples/finetune

The dataset loads with `datasets.load_dataset("parquet", data_files=...)` (the `train`
and `valid` shards). By default the model is a small T5 built from a config (no hub
download), with lastmile's own byte-level BPE through `PreTrainedTokenizerFast`, so the
example runs offline on a CPU in minutes. To fine-tune a pretrained checkpoint instead
(`Salesforce/codet5p-220m`, or any local directory with a config and weights), pass
`--model NAME_OR_DIR`: its own tokenizer is then used, and you want many more steps.

Writes `predictions.jsonl` (one line per benchmark item: `id`, `beams`) and runs
`lastmile eval predictions` on it, which prints the harness's table (exact, sketch,
execution match, BIFI, pass@k) and writes `results.json` and `results.md`.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from datasets import load_dataset
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    PreTrainedTokenizerFast,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    T5Config,
    T5ForConditionalGeneration,
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="outputs/datasets/excel-nightly")
    p.add_argument("--tokenizer", default="models/excel/tokenizer.json", help="lastmile tokenizer.json (ignored with --model)")
    p.add_argument("--model", default=None, help="a pretrained checkpoint (hub name or directory); default: a small T5 from a config")
    p.add_argument("--bench", default="corpora/benchmarks/repair/excel.json")
    p.add_argument("--lang", default="excel")
    p.add_argument("--out", default="outputs/examples/finetune")
    p.add_argument("--train-pairs", type=int, default=8000)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-len", type=int, default=96)
    p.add_argument("--beams", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--lastmile", default=os.environ.get("LASTMILE", "lastmile"), help="command that runs lastmile")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def lastmile_tokenizer(path):
    tok = PreTrainedTokenizerFast(tokenizer_file=path, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>", mask_token="<mask>")
    assert tok.pad_token_id == 0 and tok.eos_token_id == 1, "lastmile's specials are <pad>=0, <eos>=1"
    return tok


def small_t5(tokenizer):
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=256,
        d_kv=32,
        d_ff=1024,
        num_layers=3,
        num_decoder_layers=3,
        num_heads=8,
        dropout_rate=0.1,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return T5ForConditionalGeneration(config)


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data_dir = Path(args.dataset) / "data"
    data = load_dataset(
        "parquet",
        data_files={"train": sorted(str(p) for p in data_dir.glob("train-*.parquet")), "valid": sorted(str(p) for p in data_dir.glob("valid-*.parquet"))},
    )
    train = data["train"].shuffle(seed=args.seed).select(range(min(args.train_pairs, len(data["train"]))))
    print(f"{args.dataset}: {len(data['train'])} train / {len(data['valid'])} valid pairs; fine-tuning on {len(train)}")

    if args.model:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForSeq2SeqLM.from_pretrained(args.model)
    else:
        tokenizer = lastmile_tokenizer(args.tokenizer)
        model = small_t5(tokenizer)
    print(f"model: {args.model or 'T5 from a config'}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")

    def encode(batch):
        enc = tokenizer(batch["broken"], max_length=args.max_len, truncation=True)
        enc["labels"] = tokenizer(text_target=batch["fixed"], max_length=args.max_len, truncation=True)["input_ids"]
        return enc

    columns = data["train"].column_names
    train = train.map(encode, batched=True, remove_columns=columns)
    valid = data["valid"].map(encode, batched=True, remove_columns=columns)

    training = Seq2SeqTrainingArguments(
        output_dir=str(out / "checkpoints"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=min(100, args.steps // 10),
        lr_scheduler_type="cosine",
        label_smoothing_factor=0.1,
        logging_steps=50,
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
        seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=training,
        train_dataset=train,
        eval_dataset=valid,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        processing_class=tokenizer,
    )
    trainer.train()
    loss = trainer.evaluate(metric_key_prefix="valid")["valid_loss"]
    print(f"held-out loss: {loss:.3f}")

    bench = json.loads(Path(args.bench).read_text())
    stem = Path(args.bench).stem
    model.eval()
    lines = []
    with torch.no_grad():
        for start in range(0, len(bench), 16):
            chunk = bench[start : start + 16]
            enc = tokenizer([item["Buggy"] for item in chunk], max_length=args.max_len, truncation=True, padding=True, return_tensors="pt")
            generated = model.generate(**enc, num_beams=args.beams, num_return_sequences=args.beams, max_new_tokens=args.max_len)
            texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
            for i, item in enumerate(chunk):
                beams = texts[i * args.beams : (i + 1) * args.beams]
                lines.append({"id": f"{stem}/{start + i}", "broken": item["Buggy"], "beams": beams})
    predictions = out / "predictions.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    print(f"wrote {predictions} ({len(lines)} items, {args.beams} beams each)")

    command = args.lastmile.split() + ["eval", "predictions", "--predictions", str(predictions), "--bench", args.bench, "--lang", args.lang, "--out", str(out / "eval")]
    print("$ " + " ".join(command), flush=True)
    sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
