#!/usr/bin/env bash
# Fetches the console's third-party browser files once from the npm registry (`npm pack`, no Node at run time)
# and keeps only what is served, with each package's licence. The output is committed; run this again only to
# change a version, then commit what it wrote. Usage: bash api/console/static/vendor/fetch.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TESTS="$HERE/../../../../tests/helpers/vendor"  # axe-core runs in the page only under test
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

take() {  # take PACKAGE@VERSION DEST FILE...
  local spec="$1" dest="$2"; shift 2
  local name="${spec%@*}"
  (cd "$WORK" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$WORK/$name" "$dest"
  tar xzf "$WORK"/"${name//\//-}"-*.tgz -C "$WORK/$name"
  for file in "$@"; do cp "$WORK/$name/package/$file" "$dest/$(basename "$file")"; done
  cp "$WORK/$name/package/LICENSE" "$dest/LICENSE.$name"
  if [ "$name" = redoc ]; then  # its sidebar loads a logo from Redocly's CDN: an empty image (it then hides it)
    sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:,#' "$dest/redoc.standalone.js"
  fi
  echo "$spec (licence: LICENSE.$name) $(cd "$dest" && sha256sum "${@##*/}" | tr '\n' ' ')" >> "$dest/LICENSES.new"
}

rm -f "$HERE/LICENSES.new" "$TESTS/LICENSES.new"
take uplot@1.6.32 "$HERE" dist/uPlot.iife.min.js dist/uPlot.min.css
take swagger-ui-dist@5.35.0 "$HERE" swagger-ui-bundle.js swagger-ui.css
take redoc@2.5.4 "$HERE" bundles/redoc.standalone.js
take axe-core@4.14.1 "$TESTS" axe.min.js
mv "$HERE/LICENSES.new" "$HERE/LICENSES"
mv "$TESTS/LICENSES.new" "$TESTS/LICENSES"
