#!/usr/bin/env bash
# Creates training/.venv (if absent) and installs training/requirements.txt into it. Idempotent: a
# second run with unchanged requirements only checks a stamp. Works as root on a fresh Debian with
# python3 and python3-venv. PYTHON=python3.11 picks another interpreter (numpy 1.26.4 has wheels for
# Python 3.9-3.12 only).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
venv=.venv
stamp=$venv/.requirements.sha256

command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON not found: apt-get install -y python3 python3-venv" >&2; exit 1; }
if ! "$PYTHON" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 12)))'; then
  echo "setup: $("$PYTHON" --version 2>&1) found; the pinned packages need Python 3.9-3.12 (set PYTHON=python3.11)" >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$venv"  # a half-made venv (e.g. python3-venv missing) would break later runs
  if ! "$PYTHON" -m venv "$venv"; then
    rm -rf "$venv"
    ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "setup: '$PYTHON -m venv' failed; install the venv module: apt-get install -y python3-venv (or python$ver-venv)" >&2
    exit 1
  fi
fi

want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: $venv is up to date"
  exit 0
fi
# --no-cache-dir: torch and its CUDA wheels are ~2.8 GB; a cached copy would double that on disk.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir -r requirements.txt
"$venv/bin/python" -c 'import torch, numpy, onnx, onnxruntime; print("setup: torch", torch.__version__, "numpy", numpy.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__)'
echo "$want" > "$stamp"  # only once everything imports
