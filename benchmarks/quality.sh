#!/usr/bin/env bash
# Every training run behind the quality tables of docs/benchmarks.md, with the options each row used.
# Each run writes runs/<name>/metrics.json; `python benchmarks/table.py runs/<name> …` prints its row.
# On the 2-core CPU the whole script takes many hours: copy single lines to reproduce single rows.
# Session 3's rows (the current defaults) were trained on a lent H100 GPU with these exact commands.
set -euo pipefail
B=${BENCHMARKS:-../shared/data/benchmarks}
NG=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train_lr.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
WOS=(--taxonomy $B/wos1k/taxonomy.tsv --train $B/wos1k/train.jsonl --dev $B/wos1k/dev.jsonl --test $B/wos1k/test.jsonl)
LR=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
DEMO=(--taxonomy assets/demo/taxonomy.tsv --train assets/demo/train.jsonl --dev assets/demo/dev.jsonl --test assets/demo/test.jsonl)
# Session 3's GPU rows were trained with random batches and MiniLM's attention dropout (before
# length-grouped batches and no attention dropout became the small-data defaults).
train() { python -m hpt_core train --batching random --attention-dropout 0.1 --decision threshold "$@"; }

# The one-minute systems: TF-IDF, embeddings, TF-IDF + embeddings (C and w chosen on dev), one run each
python benchmarks/classical_baseline.py "${NG[@]}"
python benchmarks/classical_baseline.py "${WOS[@]}"
for seed in 1 2 3; do
  python benchmarks/classical_baseline.py "${LR[@]}" --low-resource 0.1 --seed $seed
done

# Our defaults (small-data recipe with the lexical channel), at most 10 epochs
train "${NG[@]}" --run-dir runs/20ng-default
train "${WOS[@]}" --run-dir runs/wos-default
train "${DEMO[@]}" --run-dir runs/demo-default
python -m hpt_core low-resource "${LR[@]}" --batching random --attention-dropout 0.1 --decision threshold --fraction 0.1 --seeds 1,2,3 --out runs/20ng-lr

# The current defaults, each alone on the 2-core CPU (wall time and peak memory): session 4's rows.
# (runs/20ng-cpu-default was trained by the code just before `--decision auto` landed; the same
# step was then applied with `decide`, which is what training now does when it ends.)
/usr/bin/time -v python -m hpt_core train "${NG[@]}" --run-dir runs/20ng-cpu-default
python -m hpt_core decide --run-dir runs/20ng-cpu-default
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --run-dir runs/wos-cpu-s4
/usr/bin/time -v python -m hpt_core train "${DEMO[@]}" --run-dir runs/demo-cpu-s4
/usr/bin/time -v python -m hpt_core low-resource "${LR[@]}" --fraction 0.1 --seeds 1 --out runs/20ng-lr-cpu-s4
python benchmarks/score_parts.py runs/20ng-cpu-default

# Session 5: the classical blend (now the default), applied to the finished runs above with the
# function training now ends with; seeds 2 and 3 of the low-resource runner, then the blend on all
# three; the baseline on the same samples.
for pair in "20ng-cpu-default 20ng-cpu-s5-blend" "wos-cpu-s4 wos-cpu-s5-blend" "demo-cpu-s4 demo-cpu-s5-blend"; do
  set -- $pair; cp -r runs/$1 runs/$2; /usr/bin/time -v python -m hpt_core blend --run-dir runs/$2
done
/usr/bin/time -v python -m hpt_core low-resource "${LR[@]}" --fraction 0.1 --seeds 2,3 --blend none --out runs/20ng-lr-cpu-s5
cp -r runs/20ng-lr-cpu-s4/hpt-0.1-seed1 runs/20ng-lr-cpu-s5/hpt-0.1-seed1
for s in 1 2 3; do /usr/bin/time -v python -m hpt_core blend --run-dir runs/20ng-lr-cpu-s5/hpt-0.1-seed$s; done
for s in 2 3; do python benchmarks/classical_baseline.py "${LR[@]}" --low-resource 0.1 --seed $s --system tfidf+embeddings; done

# Session 6: 20ng in one command (made with the 256-token blend encoder, the code before the
# switch to 128); the encoder length chosen on dev; the finished runs re-blended at 128 tokens
# (what training now ends with); whole-document windows trained on 20ng; bf16 at prediction time.
/usr/bin/time -v python -m hpt_core train "${NG[@]}" --run-dir runs/20ng-cpu-s6
for r in runs/20ng-cpu-s6 runs/wos-cpu-s4 runs/20ng-lr-cpu-s5/hpt-0.1-seed1; do python benchmarks/blend_encoder_length.py $r; done
for pair in "20ng-cpu-s6 20ng-cpu-s6-b128" "wos-cpu-s4 wos-cpu-s6-b128" "demo-cpu-s4 demo-cpu-s6-b128"; do
  set -- $pair; cp -r runs/$1 runs/$2; /usr/bin/time -v python -m hpt_core blend --run-dir runs/$2
done
cp -r runs/20ng-lr-cpu-s5 runs/20ng-lr-cpu-s6-b128
for s in 1 2 3; do /usr/bin/time -v python -m hpt_core blend --run-dir runs/20ng-lr-cpu-s6-b128/hpt-0.1-seed$s; done
/usr/bin/time -v python -m hpt_core train "${NG[@]}" --max-windows 2 --window-overlap 64 --window-pooling max --run-dir runs/20ng-cpu-s6-win2
python benchmarks/inference_precision.py --run-dir runs/20ng-cpu-s6
/usr/bin/time -v python -m hpt_core train "${NG[@]}" --run-dir runs/20ng-cpu-s6-final  # the current defaults in one piece

# Session 3's CPU row (fp32, before bf16 autocast and the dev-chosen decision rule)
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --precision fp32 --decision threshold --run-dir runs/wos-cpu-default

# The lexical channel with the frozen backbone's sentence embeddings (not adopted; 6 epochs to fit the budget)
/usr/bin/time -v python -m hpt_core train "${NG[@]}" --lexical-channel tfidf+sentence --epochs 6 --decision threshold --run-dir runs/20ng-sent-e6
python -m hpt_core decide --run-dir runs/20ng-sent-e6
python benchmarks/score_parts.py runs/20ng-sent-e6

# What the lexical channel and the epochs buy (dev table of docs/benchmarks.md)
train "${NG[@]}" --lexical-channel none --epochs 5 --run-dir runs/20ng-nolex
train "${NG[@]}" --epochs 5 --run-dir runs/20ng-e5
train "${WOS[@]}" --lexical-channel none --epochs 8 --run-dir runs/wos-nolex
train "${NG[@]}" --epochs 5 --label-word-encoding embeddings --text-residual-gate none --run-dir runs/20ng-pw
train "${WOS[@]}" --epochs 8 --label-word-encoding embeddings --text-residual-gate none --run-dir runs/wos-pw
python -m hpt_core low-resource "${LR[@]}" --batching random --attention-dropout 0.1 --decision threshold --epochs 5 --fraction 0.1 --seeds 1,2,3 --out runs/20ng-lr-e5

# The paper's recipe and earlier rows (sessions 1 and 2, CPU)
train "${NG[@]}" --method hpt --recipe paper --epochs 6 --run-dir runs/20ng-hpt-paper
train "${WOS[@]}" --method hpt --recipe paper --epochs 10 --run-dir runs/wos1k-hpt
train "${WOS[@]}" --method vanilla --recipe paper --epochs 10 --run-dir runs/wos1k-vanilla

# Session 7: speed (issue 11), each alone
python benchmarks/speed.py --parts padding,attention,metrics,step,latency,batch,training --sequential --out runs/speed-s7
python benchmarks/speed.py --parts labels --out runs/speed-s7-labels   # at da1fc6b: runs/speed-s7-labels-before
python benchmarks/blend_encoder_length.py runs/20ng-cpu-s6-final --lengths 128,64,0
python benchmarks/blend_encoder_length.py runs/20ng-cpu-s6-final --lengths 128,256 --encoder finetuned
python benchmarks/lexical_seen_labels.py
python benchmarks/inference_precision.py --run-dir runs/20ng-cpu-s6-final --agreement 1000   # predict --precision bf16 against fp32

# Session 8: real sizes and multi-path data (issue 25), each alone
AMZ=(--taxonomy "$B/amazon531/taxonomy.tsv" --train "$B/amazon531/train.jsonl" --dev "$B/amazon531/dev.jsonl" --test "$B/amazon531/test.jsonl")
/usr/bin/time -v python -m hpt_core train "${AMZ[@]}" --run-dir runs/amazon-default      # the defaults: 26 min 29 s
/usr/bin/time -v python benchmarks/classical_baseline.py "${AMZ[@]}" --json                # one-vs-rest on multi-path data
python benchmarks/costs.py --cells 1000x38,3000x38,1000x531,3000x531,1000x5060 --cell-timeout 600 --out runs/costs
python benchmarks/lexical_fit_budget.py                                                       # the channel alone, before / after
# not run in session 8 (each about 25 min alone):
python -m hpt_core train "${AMZ[@]}" --method vanilla --run-dir runs/amazon-vanilla
python -m hpt_core train "${AMZ[@]}" --recipe paper --run-dir runs/amazon-hpt-paper

# Session 9: the blend's bounded fitter (issue 25), each alone
python benchmarks/blend_fit_budget.py                                                         # the blend's classifier alone, before / after
python benchmarks/blend_fit_budget.py --data amazon531:train --settings now --max-iter 30     # a budget tried and not kept
python benchmarks/lexical_fit_budget.py --settings now                                        # the channel with the CSR product
python benchmarks/lexical_fit_budget.py --settings now --max-weights 4000000 --max-iter 30    # rejected: see docs/benchmarks.md
/usr/bin/time -v python -m hpt_core train "${AMZ[@]}" --run-dir runs/s9-amazon-default   # 78.41 / 53.15
python benchmarks/costs.py --cells 1000x38,3000x38,1000x531,3000x531,1000x5060,10000x531 --cell-timeout 900 --out runs/s9-costs
/usr/bin/time -v python -m hpt_core train "${NG[@]}" --run-dir runs/s9-20ng-lr-default
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --run-dir runs/s9-wos1k-default
python benchmarks/lexical_oof_leak.py --data 20ng:train_lr                                   # the stacking leak (not run in session 9)
python benchmarks/serve_load.py --run-dir runs/s9-20ng-lr-default --texts $B/20ng/test.jsonl  # (not run in session 9)

# Session 10: a fitting sample for the add-ons (issue 25), each alone unless said
python benchmarks/blend_on_run.py runs/s9-20ng-lr-default --max-iter 50,100,200              # the blend's budget is not 20ng-LR's loss
python benchmarks/costs.py --cells 10000x531 --cell-timeout 1200 --out runs/s10-costs          # fits 95 % → 59 % of training
python benchmarks/lexical_fit_profile.py --cell 10000x531                                      # where one lexical fit's time goes
# the channel's weights at 4 M (lexical.MAX_WEIGHTS = 4_000_000 in a copy of the code): rejected on dev
/usr/bin/time -v python -m hpt_core train "${AMZ[@]}" --run-dir runs/s10-amazon-lex4m
NGF=(--taxonomy $B/20ng/taxonomy.tsv --train $B/20ng/train.jsonl --dev $B/20ng/dev.jsonl --test $B/20ng/test2k.jsonl)
/usr/bin/time -v python -m hpt_core train "${NGF[@]}" --run-dir runs/s10-20ng-full-default   # 10,183 documents: a sample of 4,000 fits the add-ons
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --run-dir runs/s10-wos-default
python benchmarks/lexical_oof_leak.py --data 20ng:train_lr                                   # the stacking leak

# Session 11: the lexical channel's folds fitted from zeros along the C path (the leak fixed), not alone
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --run-dir runs/s11-wos-cold
/usr/bin/time -v python -m hpt_core train "${AMZ[@]}" --run-dir runs/s11-amazon-cold
# not run in session 11 (about 50 min alone): /usr/bin/time -v python -m hpt_core train "${NG[@]}" --run-dir runs/s11-20ng-lr-cold
# calibrated confidence on finished runs (issue 21)
python benchmarks/calibration.py runs/s10-wos-default runs/s9-20ng-lr-default runs/s9-amazon-default --json
python benchmarks/costs.py --cells 3000x531,1000x38 --cell-timeout 1200 --out runs/s11-costs   # the leak fix's cost, alone
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --run-dir runs/s11-wos-cold-alone          # the same, alone: 10 min 58 s

# Session 12: 20ng-LR with the leak fix (not alone)
/usr/bin/time -v python -m hpt_core train "${NG[@]}" --run-dir runs/s12-20ng-lr-cold
python benchmarks/serve_load.py --run-dir runs/s12-20ng-lr-cold --texts $B/20ng/test.jsonl --requests 1000 --concurrency 32 --rounds 10 > runs/s12-serve-10k.jsonl   # memory over 10,000 requests

# Session 16: the lexical channel fitted as ridge regression in closed form (issue 25; the default stays logistic)
python benchmarks/lexical_fitters.py                                                          # the channel alone, each fitter
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --lexical-fit ridge --run-dir runs/s16-wos-ridge
/usr/bin/time -v python -m hpt_core train "${AMZ[@]}" --lexical-fit ridge --run-dir runs/s16-amazon-ridge
python benchmarks/costs.py --cells 1000x38,3000x531,10000x531,1000x5060 --cell-timeout 1200 --out runs/s16-costs --lexical-fit ridge
/usr/bin/time -v python -m hpt_core train "${AMZ[@]}" --lexical-fit ridge-votes --run-dir runs/s16-amazon-ridge-votes

# Session 17: the labelling loop's quick round (issue 23), today's wos1k defaults, what to label next
/usr/bin/time -v python -m hpt_core train "${WOS[@]}" --run-dir runs/s17-wos                  # calibration: test ECE 0.041
# runs/s15-20ng-lr-plus50.jsonl: 20ng-LR plus 50 documents of the full training set (docs/benchmarks.md, session 15)
/usr/bin/time -v python -m hpt_core train --taxonomy $B/20ng/taxonomy.tsv --train runs/s15-20ng-lr-plus50.jsonl --dev $B/20ng/dev.jsonl --init-from runs/s15-20ng-lr --epochs 1 --replay 500 --run-dir runs/s17-replay-round
/usr/bin/time -v python -m hpt_core train --taxonomy $B/20ng/taxonomy.tsv --train runs/s15-20ng-lr-plus50.jsonl --dev $B/20ng/dev.jsonl --init-from runs/s15-20ng-lr --epochs 1 --replay 500 --schedule linear --warmup-ratio 0.1 --run-dir runs/s17-replay-linear
python -m hpt_core evaluate --run-dir runs/s17-replay-linear --data $B/20ng/test2k.jsonl --json    # test, outside the round
python benchmarks/active_learning.py --corpus 20ng --out runs/s17-al-20ng
python benchmarks/active_learning.py --corpus amazon531 --out runs/s17-al-amazon531
# (the plot: the --table line below, with the random-first-batch runs too)
python benchmarks/active_learning.py --corpus 20ng --strategies margin --cold-start random --out runs/s17-al-20ng-rs
python benchmarks/active_learning.py --corpus amazon531 --strategies margin --cold-start random --out runs/s17-al-amazon531-rs
python benchmarks/active_learning.py --table runs/s17-al-20ng runs/s17-al-20ng-rs runs/s17-al-amazon531 runs/s17-al-amazon531-rs --plot docs/active_learning.png
