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
// a Describe by one id without maps and copies of the endpoint. Before
// those: 27 and 46 allocations.
func TestServeHTTPAllocations(t *testing.T) {
	max := map[string]float64{"GetCallerIdentity": 24, "DescribeEndpointByID": 40}
	for _, c := range servedCalls(t, false) {
		if got := testing.AllocsPerRun(200, c.serve); got > max[c.name] {
			t.Errorf("%s: %.1f allocations per call, want at most %.0f", c.name, got, max[c.name])
		}
	}
}
