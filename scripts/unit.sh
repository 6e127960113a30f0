#!/usr/bin/env bash
# Runs every package's tests with the race detector. On a failure it ends
# with a summary (which tests failed, which were still running when the
# timeout struck), because a CI log is often read from its tail and a
# timeout's goroutine dump buries the test's name at its top.
set -uo pipefail
# Tests never reach the EC2 instance metadata address (the SDKs' credential
# chains try it when a test leaves credentials out): test traffic stays local.
export AWS_EC2_METADATA_DISABLED=true
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$GO" test -race -count=1 -timeout "${UNIT_TIMEOUT:-30m}" ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The client build (-tags postern_client, `make client`): its own command
# tree (the server-only commands left out) and the packages it links.
"$GO" test -race -count=1 -timeout "${UNIT_TIMEOUT:-30m}" -tags postern_client ./internal/cli/ 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -ne 0 ] && [ "$status" -eq 0 ] && status=1
if [ "$status" -ne 0 ]; then
  echo
  echo "unit: go test failed (exit $status); summary:"
  grep -E -A8 '^panic: test timed out|^panic:|^fatal error:' "$log" | grep -vE '^\s+/|^goroutine ' | head -40
  grep -E '^(--- FAIL|FAIL|ok  )' "$log" | grep -v '^ok' | head -60
fi
exit "$status"
