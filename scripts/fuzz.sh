#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each ($1, default 10s).
# A run that ends with Go's "context deadline exceeded" and wrote no failing
# input (the fuzz time ran out while the engine was busy; a known Go issue)
# is run once more; a real failure writes testdata/fuzz/<Target>/… and fails.
set -euo pipefail
fuzztime=${1:-10s}
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  for attempt in 1 2; do
    echo "fuzz: $pkg $name ($fuzztime, attempt $attempt)"
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 0s "$pkg" >"$log" 2>&1; then
      tail -n 2 "$log"
      break
    fi
    cat "$log"
    if grep -q "Failing input written" "$log" || ! grep -q "context deadline exceeded" "$log" || [ "$attempt" = 2 ]; then
      status=1
      break
    fi
  done
done < <(grep -rHoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' internal | sed -E 's/func //' | sort -u)
exit $status
