#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each ($1, default 10s).
set -euo pipefail
fuzztime=${1:-10s}
status=0
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "fuzz: $pkg $name ($fuzztime)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
    status=1
  fi
done < <(grep -rHoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' internal | sed -E 's/func //' | sort -u)
exit $status
