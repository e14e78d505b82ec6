#!/usr/bin/env bash
# Build the front-end assets: GOV.UK Frontend from npm into portal/static/govuk (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=portal/static/govuk/.version
want=$(node -p "require('./package.json').dependencies['govuk-frontend']")
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/axe-core ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null  # errors still reach stderr
src=node_modules/govuk-frontend/dist/govuk
rm -rf portal/static/govuk
mkdir -p portal/static/govuk
cp "$src/govuk-frontend.min.css" "$src/govuk-frontend.min.js" portal/static/govuk/
cp -r "$src/assets" portal/static/govuk/assets
echo "$want" > "$stamp"
echo "GOV.UK Frontend $want built into portal/static/govuk"
