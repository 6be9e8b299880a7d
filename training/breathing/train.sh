#!/usr/bin/env bash
# One command: make the RSM data sets with the product's own code, train and compare the four
# models, export the BI-AT-GRU with its golden files and metrics.
#
#   bash training/breathing/train.sh            # full run: writes models/breathing/ (about 40 min on 2 cores)
#   bash training/breathing/train.sh --smoke    # tiny data, 1 epoch, writes to $OUT (default a temp folder)
#
# Environment: DATA (data folder, default training/data), OUT (model folder, default
# models/breathing; the smoke run defaults to a temporary folder so the shipped model is untouched),
# THREADS (torch threads, default: all cores), SEED (base seed of the data and of training, default 1),
# BIN (an edge-screen binary to use instead of building one in release mode; CI passes its debug
# build), EPOCHS (default 14), MERGE (seconds per recurrent step, default 4), HIDDEN (GRU/LSTM units
# per direction, default 48), WIDEN (share of sessions widened toward the edges of their pattern's
# definition, 0-1, default 0: the shipped model; see models/breathing/MODEL_CARD.md for 0.67).
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
DATA=${DATA:-training/data}
SEED=${SEED:-1}
THREADS=${THREADS:-$(nproc)}
if [ $smoke = 1 ]; then
  OUT=${OUT:-$(mktemp -d)}
  DATA=$(mktemp -d)
else
  OUT=${OUT:-models/breathing}
fi

bash training/setup.sh
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/edge-screen
fi

# Sessions per pattern and the share rendered through the simulated camera, per split. Every split
# has its own subjects (see the training-set generator under src/); the test split's numbers are the
# reported ones.
if [ $smoke = 1 ]; then
  splits=("train 4 0.25 240" "val 2 0.5 240" "test 2 1.0 240")
else
  splits=("train 250 0.4 300" "val 24 0.5 300" "test 40 0.75 300")
fi
# The generator's data version (`pub const DATA_VERSION: u32 = N`, wherever it lives under src/): a
# data folder from another version is remade.
mapfile -t versions < <(grep -rhoP --include='*.rs' 'pub const DATA_VERSION: u32 = \K[0-9]+' src/)
if [ "${#versions[@]}" -ne 1 ]; then
  echo "train.sh: expected exactly one 'pub const DATA_VERSION: u32 = N' (the training-set generator's data version) in src/, found ${#versions[@]}" >&2
  grep -rnP --include='*.rs' 'pub const DATA_VERSION: u32 = [0-9]+' src/ >&2 || true
  exit 1
fi
data_version=${versions[0]}
for s in "${splits[@]}"; do
  read -r split per share secs <<<"$s"
  if [ -f "$DATA/$split/spec.json" ] && [ $smoke = 0 ] && grep -q "\"per_pattern\": $per," "$DATA/$split/spec.json" \
    && grep -q "\"data_version\": $data_version," "$DATA/$split/spec.json" \
    && grep -qE "\"widen_share\": ${WIDEN:-0}(\.0)?,?$" "$DATA/$split/spec.json"; then
    echo "train.sh: $DATA/$split exists, reusing it (delete it to regenerate)"
    continue
  fi
  "$bin" simulate --training-set --split "$split" --per-pattern "$per" --camera-share "$share" \
    --widen-share "${WIDEN:-0}" \
    --seconds "$secs" --seed "$SEED" --out "$DATA/$split"
done

args=(--data "$DATA" --out "$OUT" --seed "$SEED" --threads "$THREADS" --epochs "${EPOCHS:-14}"
  --merge "${MERGE:-4}" --hidden "${HIDDEN:-48}" --weight-decay 1e-3 --dropout 0.2 --jitter 0.05)
[ $smoke = 1 ] && args+=(--smoke)
training/.venv/bin/python training/breathing/train.py "${args[@]}"
echo "train.sh: model, golden.json and metrics in $OUT"
