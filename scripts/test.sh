#!/usr/bin/env bash
# The test command: every unit and integration test, with every optional feature on.
# (For quick work on one module: `cargo test --lib rsm::`.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo test --all-features "$@"
