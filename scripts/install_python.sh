#!/usr/bin/env bash
# `make run` / `make test`: create .venv/ and install the project into it, quietly. One line says
# what happened; pip's own output (and its warnings) go to .venv/pip.log, shown on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "Creating the Python environment .venv/ with $(python3 --version)."
  python3 -m venv .venv
fi
log=.venv/pip.log
started=$SECONDS
printf "Installing the Python packages into .venv/... "
pip=(.venv/bin/python -m pip --disable-pip-version-check)
if ! { "${pip[@]}" install --quiet --upgrade pip &&
  "${pip[@]}" install --no-warn-script-location --progress-bar off -e '.[dev]'; } >"$log" 2>&1; then
  echo "failed:"
  tail -25 "$log"
  echo "The whole pip output is in $log."
  exit 1
fi
count=$("${pip[@]}" list --format=freeze 2>/dev/null | wc -l)
echo "done: $count packages in $((SECONDS - started)) s (pip's output: $log)."
