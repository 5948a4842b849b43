#!/usr/bin/env bash
# Every training run behind the quality table of docs/benchmarks.md (issue 4), in order.
# Each run writes runs/<name>/metrics.json; `python benchmarks/table.py runs/<name> …` prints the rows.
# On the 2-core CPU the whole script takes several hours; run single lines to reproduce single rows.
# Two runs may share the machine: prefix with OMP_NUM_THREADS=1 and start them side by side, as the
# figures in docs/benchmarks.md were taken.
set -euo pipefail
B=${BENCHMARKS:-../shared/data/benchmarks}
train() { python -m hpt_core train --max-length 256 "$@"; }

for data in 20ng wos1k; do
  if [ "$data" = 20ng ]; then
    files=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train_lr.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
    epochs=6
  else
    files=(--taxonomy $B/wos1k/taxonomy.tsv --train $B/wos1k/train.jsonl --dev $B/wos1k/dev.jsonl --test $B/wos1k/test.jsonl)
    epochs=10
  fi
  python benchmarks/classical_baseline.py "${files[@]}"
  train "${files[@]}" --epochs $epochs --method hpt --run-dir runs/$data-hpt-small              # our defaults
  train "${files[@]}" --epochs $epochs --method vanilla --run-dir runs/$data-vanilla-small      # same recipe
  train "${files[@]}" --epochs $epochs --method hpt --recipe paper --run-dir runs/$data-hpt-paper
  train "${files[@]}" --epochs $epochs --method vanilla --recipe paper --run-dir runs/$data-vanilla-paper
done

# The low-resource runner (Figure 4): a seeded 10 % of 20ng's full train, three seeds, mean ± std,
# and the classical baseline on the very same samples.
LR=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
python -m hpt_core low-resource "${LR[@]}" --max-length 256 --epochs 6 --method hpt --fraction 0.1 --seeds 1,2,3 --out runs/20ng-lr
for seed in 1 2 3; do
  python benchmarks/classical_baseline.py "${LR[@]}" --low-resource 0.1 --seed $seed
done
