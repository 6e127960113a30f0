#!/usr/bin/env bash
# Checks packaging/systemd's units with systemd-analyze: `verify` must pass
# without a single warning (it exits 0 on unknown keys, so any output
# fails), and `security --offline` must rate each unit's exposure at most
# MAX_EXPOSURE (tenths: 20 = 2.0 "OK"), so that hardening is not dropped
# by accident. ExecStart's binary is replaced by an executable that exists
# (verify checks it), the template is checked through an instance, and
# man pages are not looked up (they are made by `make release`).
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXPOSURE=${MAX_EXPOSURE:-20}
if ! command -v systemd-analyze >/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "systemd: systemd-analyze is missing (scripts/test-deps.sh installs the systemd package)" >&2
    exit 1
  fi
  echo "systemd: SKIP: systemd-analyze not installed (apt-get install systemd)"
  exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
exe=$(command -v true)
passed=0 failed=0
check() { # unit-file unit-name
  sed "s#/usr/local/bin/postern#$exe#g" "packaging/systemd/$1" >"$dir/$1"
  local out
  if out=$(cd "$dir" && systemd-analyze verify --man=no "./$2" 2>&1) && [ -z "$out" ]; then
    echo "ok   verify $2"; passed=$((passed + 1))
  else
    echo "FAIL verify $2:"; echo "$out"; failed=$((failed + 1))
  fi
  if out=$(cd "$dir" && systemd-analyze security --offline=true --threshold="$MAX_EXPOSURE" "./$2" 2>&1); then
    echo "ok   security $2: $(grep -o 'Overall exposure level.*' <<<"$out")"; passed=$((passed + 1))
  else
    echo "FAIL security $2 (threshold $MAX_EXPOSURE):"; grep -E '^✗|Overall' <<<"$out" || echo "$out"; failed=$((failed + 1))
  fi
}
check postern-server.service postern-server.service
check postern-agent@.service postern-agent@test.service
echo "systemd: $passed passed, $failed failed"
[ "$failed" = 0 ]
