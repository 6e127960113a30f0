//go:build !race

// Under the race detector sync.Pool drops a share of what it is given on
// purpose (pooled answers, HMAC states, request-id randomness), so
// allocations are counted without it.

package api_test

import "testing"

// TestServeHTTPAllocations bounds the dispatcher's own allocations for the
// two calls of issue 17's API target (the record's are the audit
// writer's, counted apart): SigV4 verification without canonicalising
// each signed header name again, a request id from pooled randomness, and
// a Describe by one id without maps and copies of the endpoint (27 and 46
// allocations before those); then the string to sign and the MAC's sum
// in the pooled HMAC state, the form body parsed into one array of
// values, no escaping errors.As target, and EC2's describer and IAM
// action names built once per service and the endpoint's id lists not
// copied (23 and 38 before those; 19 and 27 now).
func TestServeHTTPAllocations(t *testing.T) {
	max := map[string]float64{"GetCallerIdentity": 20, "DescribeEndpointByID": 28}
	for _, c := range servedCalls(t, false) {
		if got := testing.AllocsPerRun(200, c.serve); got > max[c.name] {
			t.Errorf("%s: %.1f allocations per call, want at most %.0f", c.name, got, max[c.name])
		}
	}
}
