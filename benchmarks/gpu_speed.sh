#!/usr/bin/env bash
# Speed on a CUDA GPU with bert-base-sized RANDOM weights (the paper's backbone size; nothing is
# downloaded) at 512 tokens: benchmarks/speed.py's figures, and the wall time of one epoch over
# 30,000 synthetic documents. Needs only the repository and the installed requirements (texts are
# random words with WOS-like lengths; no shared data). Run from the repository root:
#   bash benchmarks/gpu_speed.sh                  # results in $OUT (default runs/gpu_speed)
set -euo pipefail
OUT=${OUT:-runs/gpu_speed}
PY=${PYTHON:-python}
W="$OUT/work"
mkdir -p "$W/data"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true

$PY benchmarks/synthetic.py backbone --size bert-base --out "$W/bert-base-random"
$PY benchmarks/synthetic.py tree --sizes 7,20 --out "$W/data"                  # 147 labels, depth 2 (WOS-like)
$PY benchmarks/synthetic.py random-corpus --taxonomy "$W/data/taxonomy.tsv" --n 693 --seed 1 --out "$W/data/train.jsonl"
$PY benchmarks/synthetic.py random-corpus --taxonomy "$W/data/taxonomy.tsv" --n 200 --seed 2 --out "$W/data/dev.jsonl"
$PY benchmarks/synthetic.py random-corpus --taxonomy "$W/data/taxonomy.tsv" --n 2000 --seed 3 --out "$W/data/test2k.jsonl"
$PY benchmarks/synthetic.py random-corpus --taxonomy "$W/data/taxonomy.tsv" --n 30000 --seed 4 --out "$W/data/train30k.jsonl"

# 1. the figures of benchmarks/speed.py at 512 tokens (training rows at 512 and 256)
$PY benchmarks/speed.py --device cuda --backbone "$W/bert-base-random" --wos "$W/data" --ng "$W/data" \
    --predict-length 512 --labels-length 512 --steps 50 --repeats 10 --out "$W/speed" > "$OUT/speed.json"

# 2. one epoch over 30,000 documents at 512 tokens, batch 16, bf16 autocast (dev evaluation included)
start=$(date +%s)
$PY -m hpt_core train --taxonomy "$W/data/taxonomy.tsv" --train "$W/data/train30k.jsonl" --dev "$W/data/dev.jsonl" \
    --backbone "$W/bert-base-random" --max-length 512 --epochs 1 --device cuda --run-dir "$W/epoch30k" 2> "$OUT/epoch30k.log"
end=$(date +%s)
$PY - "$W/epoch30k/metrics.json" "$((end - start))" > "$OUT/epoch30k.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"documents": m["train_documents"], "wall_s_including_start": int(sys.argv[2]),
                  "train_seconds": m["train_seconds"], "train_docs_per_s": m["train_docs_per_s"],
                  "peak_cuda_memory_gb": m.get("peak_cuda_memory_gb"), "device": m["device"]}, indent=2))
PYEOF
cat "$OUT/epoch30k.json"
echo "results: $OUT/speed.json $OUT/epoch30k.json"
