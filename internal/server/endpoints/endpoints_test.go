package endpoints_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

func open(t *testing.T) (*endpoints.Endpoints, store.Store) {
	t.Helper()
	st := sqlitetest.Open(t)
	eps, err := endpoints.New(endpoints.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return eps, st
}

var place = endpoints.LocalPlace{AccountID: "123456789012", Region: "us-east-1", DNSName: "postern.test",
	AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1"}

func TestStatePredicates(t *testing.T) {
	for _, tc := range []struct {
		state             string
		joinable, deleted bool
	}{
		{eice.CreateInProgress, true, false},
		{eice.CreateComplete, true, false},
		{eice.CreateFailed, false, false},
		{eice.UpdateInProgress, true, false},
		{eice.UpdateComplete, true, false},
		{eice.UpdateFailed, true, false},
		{eice.DeleteInProgress, false, true},
		{eice.DeleteComplete, false, true},
		{eice.DeleteFailed, false, false},
		{"bogus", false, false},
	} {
		if got := endpoints.Joinable(tc.state); got != tc.joinable {
			t.Errorf("Joinable(%s) = %v", tc.state, got)
		}
		if got := endpoints.Deleted(tc.state); got != tc.deleted {
			t.Errorf("Deleted(%s) = %v", tc.state, got)
		}
	}
}

func TestStartDeletion(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		state        string
		enis         []string
		shown, after string
		changed      bool
		invalid      bool
	}{
		{state: eice.CreateComplete, shown: eice.DeleteInProgress, after: eice.DeleteComplete, changed: true},
		{state: eice.CreateComplete, enis: []string{"eni-1"}, shown: eice.DeleteInProgress, after: eice.DeleteInProgress, changed: true},
		{state: eice.CreateFailed, shown: eice.DeleteInProgress, after: eice.DeleteComplete, changed: true},
		{state: eice.DeleteInProgress, enis: []string{"eni-1"}, shown: eice.DeleteInProgress, after: eice.DeleteInProgress},
		{state: eice.UpdateInProgress, shown: eice.UpdateInProgress, after: eice.UpdateInProgress, invalid: true},
	} {
		e := store.Endpoint{State: tc.state, StateMessage: "m", NetworkInterfaceIDs: tc.enis}
		shown, changed, err := endpoints.StartDeletion(&e, now)
		if errors.Is(err, endpoints.ErrInvalidTransition) != tc.invalid || (err != nil && !tc.invalid) {
			t.Errorf("%s %v: error %v", tc.state, tc.enis, err)
		}
		if shown.State != tc.shown || e.State != tc.after || changed != tc.changed {
			t.Errorf("%s %v: shown %s, stored %s, changed %v", tc.state, tc.enis, shown.State, e.State, changed)
		}
		if tc.after == eice.DeleteComplete && !e.DeletedAt.Equal(now) {
			t.Errorf("%s: deleted at %v", tc.state, e.DeletedAt)
		}
	}
}

// A join token is issued, stored only as its hash, redeemed once; the
// agent joins its endpoint; the errors are the package's sentinels.
func TestJoinTokens(t *testing.T) {
	ctx := context.Background()
	eps, st := open(t)
	ln, err := eps.EnsureLocalNetwork(ctx, place)
	if err != nil || !ln.Created || ln.EndpointID == "" {
		t.Fatalf("local network: %+v %v", ln, err)
	}
	again, err := eps.EnsureLocalNetwork(ctx, place)
	if err != nil || again.Created || again.EndpointID != ln.EndpointID || again.AgentID != ln.AgentID || again.VpcID != ln.VpcID {
		t.Fatalf("local network again: %+v %v", again, err)
	}
	issue := func() string {
		t.Helper()
		tok, err := eps.IssueJoinToken(ctx, endpoints.TokenRequest{EndpointID: ln.EndpointID, CreatedBy: "arn:aws:iam::123456789012:user/admin",
			TTL: time.Minute, Server: "postern.test:443", CAPin: strings.Repeat("ab", 32)})
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := tunnelproto.ParseJoinToken(tok.Token)
		if err != nil || parsed.EndpointID != ln.EndpointID {
			t.Fatalf("token %q: %+v %v", tok.Token, parsed, err)
		}
		if !bytes.Equal(tok.TokenHash, endpoints.HashSecret(parsed.Secret)) {
			t.Fatal("the stored hash is not HashSecret of the secret")
		}
		return parsed.Secret
	}
	secret := issue()
	j, err := eps.Redeem(ctx, endpoints.JoinRequest{Secret: secret, Name: "a1", KeyFingerprint: "key-1", Address: "192.0.2.1:1"})
	if err != nil || j.Endpoint.EndpointID != ln.EndpointID || j.Vpc.VpcID != ln.VpcID {
		t.Fatalf("redeem: %+v %v", j, err)
	}
	e, err := st.GetEndpoint(ctx, ln.EndpointID)
	if err != nil || !slices.Contains(e.NetworkInterfaceIDs, j.AgentID) {
		t.Fatalf("joined agent not on the endpoint: %v %v", e.NetworkInterfaceIDs, err)
	}
	for _, tc := range []struct {
		name   string
		secret func() string
		key    string
		before func()
		want   error
	}{
		{name: "used twice", secret: func() string { return secret }, key: "key-2", want: endpoints.ErrInvalidJoinToken},
		{name: "unknown", secret: func() string { return "nope" }, key: "key-2", want: endpoints.ErrInvalidJoinToken},
		{name: "key in use", secret: issue, key: "key-1", want: endpoints.ErrAgentKeyInUse},
		{name: "endpoint deleting", secret: issue, key: "key-3", before: func() {
			if err := eps.SetState(ctx, ln.EndpointID, eice.DeleteInProgress, ""); err != nil {
				t.Fatal(err)
			}
		}, want: endpoints.ErrInvalidTransition},
	} {
		s := tc.secret()
		if tc.before != nil {
			tc.before()
		}
		if _, err := eps.Redeem(ctx, endpoints.JoinRequest{Secret: s, KeyFingerprint: tc.key}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The last agents leaving complete the deletion.
	for _, id := range []string{ln.AgentID, j.AgentID} {
		if err := eps.AgentLeft(ctx, ln.EndpointID, id); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := st.GetEndpoint(ctx, ln.EndpointID); err != nil || e.State != eice.DeleteComplete || e.DeletedAt.IsZero() {
		t.Fatalf("after the agents left: %s %v", e.State, err)
	}
	if ln, err := eps.EnsureLocalNetwork(ctx, place); err != nil || ln.EndpointID != "" {
		t.Fatalf("local network after its endpoint was deleted: %+v %v", ln, err)
	}
}
