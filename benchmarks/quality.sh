#!/usr/bin/env bash
# Every training run behind the quality tables of docs/benchmarks.md, with the options each row used.
# Each run writes runs/<name>/metrics.json; `python benchmarks/table.py runs/<name> …` prints its row.
# On the 2-core CPU the whole script takes several hours: copy single lines to reproduce single rows.
# The figures of docs/benchmarks.md were taken two runs at a time with OMP_NUM_THREADS=1 each.
set -euo pipefail
B=${BENCHMARKS:-../shared/data/benchmarks}
NG=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train_lr.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
WOS=(--taxonomy $B/wos1k/taxonomy.tsv --train $B/wos1k/train.jsonl --dev $B/wos1k/dev.jsonl --test $B/wos1k/test.jsonl)
train() { python -m hpt_core train --max-length 256 "$@"; }

# classical baseline (C chosen on dev)
python benchmarks/classical_baseline.py "${NG[@]}"
python benchmarks/classical_baseline.py "${WOS[@]}"

# 20ng, train_lr.jsonl (1,131 documents)
train "${NG[@]}" --method hpt --epochs 5 --run-dir runs/20ng-hpt-small                        # our defaults (small-data recipe)
train "${NG[@]}" --method vanilla --epochs 4 --run-dir runs/20ng-vanilla-small                # same recipe's learning rates
train "${NG[@]}" --method hpt --recipe paper --epochs 6 --run-dir runs/20ng-hpt-paper

# wos1k (693 documents)
train "${WOS[@]}" --method hpt --epochs 8 --run-dir runs/wos1k-hpt-small                      # our defaults (small-data recipe)
train "${WOS[@]}" --method hpt --recipe paper --epochs 10 --run-dir runs/wos1k-hpt             # first session
train "${WOS[@]}" --method vanilla --recipe paper --epochs 10 --run-dir runs/wos1k-vanilla     # first session

# The low-resource runner (the paper's Figure 4): a seeded 10 % of 20ng's full train.jsonl, three
# seeds, mean ± std; then the classical baseline on the very same samples.
LR=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
python -m hpt_core low-resource "${LR[@]}" --method hpt --max-length 128 --epochs 4 --fraction 0.1 --seeds 1,2,3 --out runs/20ng-lr
for seed in 1 2 3; do
  python benchmarks/classical_baseline.py "${LR[@]}" --low-resource 0.1 --seed $seed
done
