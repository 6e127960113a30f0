package frontdoor

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// TestGroupCacheKeepsAnswersUntilAWrite: answers of the groups are reused
// while the store's change count stays, read again after any counted
// write, and other refusals (internal errors) are never kept; a cached
// refusal is a copy each time.
func TestGroupCacheKeepsAnswersUntilAWrite(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	c := &groupCache{changes: st}
	reads := 0
	answer := (*Refusal)(nil)
	read := func(context.Context) *Refusal { reads++; return answer.copy() }
	write := func(name string) {
		t.Helper()
		if err := st.CreateUser(ctx, store.User{UserID: "AIDA" + name, UserName: name, Path: "/", ARN: "arn:aws:iam::123456789012:user/" + name}); err != nil {
			t.Fatal(err)
		}
	}
	denied := &Refusal{Status: http.StatusForbidden, Code: "AccessDeniedException", Reason: ReasonSecurityGroup, Message: "no"}
	internal := &Refusal{Status: http.StatusInternalServerError, Code: "InternalServerException", Reason: "internal", Message: "x"}
	steps := []struct {
		name      string
		before    func()
		key       string
		wantReads int
		wantCode  string
	}{
		{"first read", func() {}, "a", 1, ""},
		{"cached", func() {}, "a", 1, ""},
		{"another key", func() {}, "b", 2, ""},
		{"a write: read again", func() { answer = denied; write("one") }, "a", 3, "AccessDeniedException"},
		{"refusal cached", func() {}, "a", 3, "AccessDeniedException"},
		{"internal error", func() { answer = internal; write("two") }, "a", 4, "InternalServerException"},
		{"internal error not cached", func() {}, "a", 5, "InternalServerException"},
	}
	for _, s := range steps {
		s.before()
		got := c.check(ctx, s.key, read)
		if reads != s.wantReads {
			t.Fatalf("%s: %d reads, want %d", s.name, reads, s.wantReads)
		}
		switch {
		case s.wantCode == "" && got != nil:
			t.Fatalf("%s: refused %v", s.name, got)
		case s.wantCode != "" && (got == nil || got.Code != s.wantCode):
			t.Fatalf("%s: answer %v, want %s", s.name, got, s.wantCode)
		}
	}
	answer = denied
	write("three")
	for i := range 2 {
		got := c.check(ctx, "c", read)
		if got == nil || got.Message != "no" {
			t.Fatalf("answer %d: %v; a caller's change reached the cache", i, got)
		}
		got.Message = "changed by a caller"
	}
	if reads != 6 {
		t.Fatalf("%d reads, want 6", reads)
	}
}

// TestVpcCacheFollowsWrites: a VPC read by id is served from the cache
// until a counted write, its tags are copies, and errors are not kept.
func TestVpcCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	c := &vpcCache{changes: st}
	if _, err := c.get(ctx, st, "vpc-0123456789abcdef0"); err == nil {
		t.Fatal("a VPC that does not exist was found")
	}
	if err := st.CreateVpc(ctx, store.Vpc{VpcID: "vpc-0123456789abcdef0", CidrBlock: "10.0.0.0/16", State: "available"}); err != nil {
		t.Fatal(err)
	}
	tags := func(want string) {
		t.Helper()
		for i := range 2 {
			v, err := c.get(ctx, st, "vpc-0123456789abcdef0")
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, tg := range v.Tags {
				got += tg.Key + "=" + tg.Value
			}
			if got != want {
				t.Fatalf("read %d: tags %q, want %q", i, got, want)
			}
			for j := range v.Tags {
				v.Tags[j].Value = "changed by a caller"
			}
		}
		c.mu.Lock()
		_, cached := c.m["vpc-0123456789abcdef0"]
		c.mu.Unlock()
		if !cached {
			t.Fatal("the VPC is not cached")
		}
	}
	tags("")
	if err := st.SetTags(ctx, "vpc-0123456789abcdef0", []store.Tag{{Key: "env", Value: "prod"}}); err != nil {
		t.Fatal(err)
	}
	tags("env=prod")
}

// TestEndpointCacheFollowsWrites: an endpoint read by id is served from
// the cache until a counted write, callers get copies of its slices, a
// missing endpoint is never kept, and without a change counter (a store
// shared by replicas) every get reads the store.
func TestEndpointCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	const vpcID, subnetID, epID = "vpc-0123456789abcdef0", "subnet-0123456789abcdef0", "eice-0123456789abcdef0"
	if err := st.CreateVpc(ctx, store.Vpc{VpcID: vpcID, CidrBlock: "10.0.0.0/16", State: "available"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSubnet(ctx, store.Subnet{SubnetID: subnetID, VpcID: vpcID, CidrBlock: "10.0.1.0/24", State: "available"}); err != nil {
		t.Fatal(err)
	}
	c := &endpointCache{changes: st}
	if _, err := c.get(ctx, st, epID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an endpoint that does not exist: %v, want ErrNotFound", err)
	}
	if err := st.CreateEndpoint(ctx, store.Endpoint{EndpointID: epID, SubnetID: subnetID, VpcID: vpcID, State: "create-complete",
		SecurityGroupIDs: []string{}, IPAddressType: "ipv4"}); err != nil {
		t.Fatal(err)
	}
	check := func(wantTags string) {
		t.Helper()
		for i := range 2 {
			ep, err := c.get(ctx, st, epID)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, tg := range ep.Tags {
				got += tg.Key + "=" + tg.Value
			}
			if got != wantTags {
				t.Fatalf("read %d: tags %q, want %q", i, got, wantTags)
			}
			for j := range ep.Tags {
				ep.Tags[j].Value = "changed by a caller"
			}
		}
		c.mu.Lock()
		e, cached := c.m[epID]
		c.mu.Unlock()
		if !cached || e.gen != st.Changes() {
			t.Fatal("the endpoint is not cached at the store's count")
		}
	}
	check("")
	if err := st.SetTags(ctx, epID, []store.Tag{{Key: "env", Value: "prod"}}); err != nil {
		t.Fatal(err)
	}
	check("env=prod")

	off := &endpointCache{}
	if _, err := off.get(ctx, st, epID); err != nil {
		t.Fatal(err)
	}
	if len(off.m) != 0 {
		t.Fatal("a cache without a change counter kept an endpoint")
	}
}
