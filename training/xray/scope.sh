#!/usr/bin/env bash
# One command for the X-ray scope check (issue 15, item 1):
#
#   bash training/xray/scope.sh
#
# builds the out-of-scope evaluation set (pinned scikit-image and pydicom wheels, sha256-checked;
# synthetic documents; transformed holdout films) into $OOS (default training/xray/cache/scope-oos),
# refreshes the test fixtures in tests/fixtures/xray-scope, fits the eigen-chest model on the train
# split and writes models/xray/scope.json and models/xray/golden/scope_scores.json, printing the
# false-rejection rates per split and source and the eigen-chest refusals on the out-of-scope set.
# Then `cargo test --test xray_scope` checks the Rust side (about 1 minute on 2 cores).
# Environment: DATA (default ../shared/data/xray), OUT (default models/xray), OOS.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/xray}
OUT=${OUT:-models/xray}
OOS=${OOS:-training/xray/cache/scope-oos}
[ -f "$DATA/manifest.csv" ] || { echo "scope.sh: $DATA/manifest.csv not found (set DATA)" >&2; exit 1; }
bash training/setup.sh
py=training/.venv/bin/python
$py training/xray/scope_oos.py --out "$OOS" --data "$DATA" --fixtures tests/fixtures/xray-scope
$py training/xray/scope.py --data "$DATA" --out "$OUT" --oos "$OOS"
