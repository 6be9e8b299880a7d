#!/usr/bin/env bash
# One command for the chest X-ray COVID-19-vs-normal classifier (issue 4):
#
#   bash training/xray/train.sh            # full run: split, cache, train 3 members, export, quantize, evaluate,
#                                          # audit, goldens -> models/xray/ (about 20-25 min on 2 cores)
#   bash training/xray/train.sh --smoke    # CI: tiny subset, 1 epoch, to $OUT (default a temp folder);
#                                          # never touches models/
#
# Environment: DATA (default ../shared/data/xray), OUT (default models/xray; smoke: a temp folder),
# THREADS (torch/onnxruntime threads, default 2), SEED (training seed, default 1), SPLIT_SEED (seed of
# the patient-disjoint split, default 1: keep it when comparing training seeds), EPOCHS (default 60), MEMBERS (ensemble members, default 3),
# CACHE (decoded-image cache, default training/xray/cache). Extra arguments go to train.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
DATA=${DATA:-../shared/data/xray}
export THREADS=${THREADS:-2}
[ -f "$DATA/manifest.csv" ] || { echo "train.sh: $DATA/manifest.csv not found (set DATA)" >&2; exit 1; }
bash training/setup.sh
args=(--data "$DATA" --seed "${SEED:-1}" --split-seed "${SPLIT_SEED:-1}" --cache "${CACHE:-training/xray/cache}")
if [ $smoke = 1 ]; then
  OUT=${OUT:-$(mktemp -d)}
  args+=(--smoke)
else
  OUT=${OUT:-models/xray}
  args+=(--epochs "${EPOCHS:-60}" --members "${MEMBERS:-3}")
fi
training/.venv/bin/python training/xray/train.py --out "$OUT" "${args[@]}" "$@"
echo "train.sh: model, goldens, metrics.json, metrics.md and MODEL_CARD.md in $OUT"
