#!/usr/bin/env bash
# What whole-document windows buy on 20ng (issue 8, part 3): the same training with the first window
# only (today's default) and with up to 2 and 4 windows per document, max-pooled; then the table.
# 67 % of 20ng training texts exceed 256 tokens and 27 % exceed 512, so windows read more of most texts.
# Each run: train_lr.jsonl (1,131 documents), 256 tokens, 5 epochs (the docs/benchmarks.md main row).
# Windows cost up to N times the encoder work on long texts; docs/s is in each metrics.json.
#   bash benchmarks/windows.sh                 # all rows (on a 2-core CPU: hours; on a GPU: minutes)
#   RUNS=runs/win EPOCHS=3 bash benchmarks/windows.sh
set -euo pipefail
B=${BENCHMARKS:-../shared/data/benchmarks}
RUNS=${RUNS:-runs}
EPOCHS=${EPOCHS:-5}
NG=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train_lr.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
train() { python -m hpt_core train "${NG[@]}" --method hpt --max-length 256 --epochs "$EPOCHS" "$@"; }

train --max-windows 1 --run-dir "$RUNS/20ng-windows-1"                                   # first window only (default)
train --max-windows 2 --window-overlap 64 --window-pooling max --run-dir "$RUNS/20ng-windows-2"
train --max-windows 4 --window-overlap 64 --window-pooling max --run-dir "$RUNS/20ng-windows-4"
train --max-windows 4 --window-overlap 64 --window-pooling mean --run-dir "$RUNS/20ng-windows-4-mean"

python benchmarks/table.py "$RUNS"/20ng-windows-*
# Evaluation of a trained run reads as many windows as the run was trained with (saved in model/config.json).
