package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// TestUsableFollowsRevocation: the store's "usable" answer for an agent is
// kept while the change count stays, a revocation (a counted write) is
// seen by the very next open, and a revoked or unknown agent is never
// kept; without a change counter (a store shared by replicas) every open
// reads the agent.
func TestUsableFollowsRevocation(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	const vpcID, subnetID, epID = "vpc-0123456789abcdef0", "subnet-0123456789abcdef0", "eice-0123456789abcdef0"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateVpc(ctx, store.Vpc{VpcID: vpcID, CidrBlock: "10.0.0.0/16", State: "available"}))
	must(st.CreateSubnet(ctx, store.Subnet{SubnetID: subnetID, VpcID: vpcID, CidrBlock: "10.0.1.0/24", State: "available"}))
	must(st.CreateEndpoint(ctx, store.Endpoint{EndpointID: epID, SubnetID: subnetID, VpcID: vpcID, State: "create-complete", IPAddressType: "ipv4"}))
	for _, id := range []string{"eni-0000000000000000a", "eni-0000000000000000b"} {
		must(st.CreateAgent(ctx, store.Agent{AgentID: id, EndpointID: epID, Name: id, KeyFingerprint: "fp-" + id, CreatedAt: time.Now()}))
	}

	cached := &Relay{cfg: Config{Store: st}, usableAgents: usableCache{changes: st}}
	uncached := &Relay{cfg: Config{Store: st}} // as on a replicated store
	kept := func(r *Relay, id string) bool {
		r.usableAgents.mu.Lock()
		defer r.usableAgents.mu.Unlock()
		gen, ok := r.usableAgents.m[id]
		return ok && gen == st.Changes()
	}
	steps := []struct {
		name    string
		before  func()
		agent   string
		revoked bool
		kept    bool
	}{
		{"usable: kept", func() {}, "eni-0000000000000000a", false, true},
		{"usable again: from the cache", func() {}, "eni-0000000000000000a", false, true},
		{"not on record: never kept", func() {}, "eni-0000000000000000c", true, false},
		{"revoked: the next open reads and refuses", func() { must(st.RevokeAgent(ctx, "eni-0000000000000000a", time.Now())) }, "eni-0000000000000000a", true, false},
		{"revoked: still refused", func() {}, "eni-0000000000000000a", true, false},
		{"another agent: usable", func() {}, "eni-0000000000000000b", false, true},
	}
	for _, s := range steps {
		s.before()
		for _, r := range []*Relay{cached, uncached} {
			err := r.usable(ctx, s.agent)
			if s.revoked != errors.Is(err, errAgentRevoked) || !s.revoked && err != nil {
				t.Fatalf("%s: usable = %v, want revoked %v", s.name, err, s.revoked)
			}
		}
		if got := kept(cached, s.agent); got != s.kept {
			t.Fatalf("%s: kept %v, want %v", s.name, got, s.kept)
		}
		if kept(uncached, s.agent) {
			t.Fatalf("%s: kept without a change counter", s.name)
		}
	}
}
