#!/usr/bin/env bash
# Builds the console page (web/console: npm ci from package-lock.json, then
# esbuild) into internal/server/console/ui/dist, which the binary embeds.
#
#   scripts/console-build.sh           build and write the dist directory
#   scripts/console-build.sh --check   build into a temporary directory and
#                                      fail if it differs from the committed dist;
#                                      run the page's unit tests (node --test)
#
# Needs node (>= 18) and npm; installs nothing outside web/console/node_modules.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
web=$root/web/console
dist=$root/internal/server/console/ui/dist

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "console-build: $tool is not installed (Node.js 18 or later is needed to build the console)" >&2
    exit 1
  fi
done

cd "$web"
# The lockfile pins every package and its integrity hash; install scripts
# are not run (esbuild's platform binary comes as an optional dependency).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null

if [ "$check" -eq 0 ]; then
  node build.mjs --out "$dist"
  echo "console-build: wrote $dist"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node build.mjs --out "$tmp/dist"
if ! diff -r "$dist" "$tmp/dist" >/dev/null; then
  echo "console-build: internal/server/console/ui/dist is not what web/console builds:" >&2
  diff -rq "$dist" "$tmp/dist" >&2 || true
  echo "console-build: run scripts/console-build.sh and commit the result" >&2
  exit 1
fi
node --test test/ >/dev/null || { echo "console-build: web/console unit tests failed (cd web/console && npm test)" >&2; exit 1; }
echo "console-build: dist matches web/console; unit tests pass"
