package storetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
)

func testPushedKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(id, inst, user string, created, expires int) store.PushedKey {
		return store.PushedKey{KeyID: id, InstanceID: inst, OSUser: user, PublicKey: "ssh-ed25519 AAAA" + id, CallerARN: "arn:aws:iam::" + account + ":user/alice",
			RequestID: "req-" + id, CreatedAt: at(created), ExpiresAt: at(expires), Signature: []byte("sig-" + id)}
	}
	keys := []store.PushedKey{
		mk("k1", "i-1", "ec2-user", 0, 1), mk("k2", "i-1", "ec2-user", 1, 3), mk("k3", "i-1", "root", 1, 3), mk("k4", "i-2", "ec2-user", 1, 3),
	}
	for _, k := range keys {
		if err := s.PutPushedKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutPushedKey(ctx, keys[0]); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate key id: %v", err)
	}
	got, err := s.ListPushedKeys(ctx, "i-1", "ec2-user", at(0))
	if err != nil || len(got) != 2 || got[0].KeyID != "k1" || got[1].KeyID != "k2" {
		t.Fatalf("keys of i-1/ec2-user at 0: %+v %v", got, err)
	}
	k := got[1]
	if k.PublicKey != keys[1].PublicKey || !k.ExpiresAt.Equal(keys[1].ExpiresAt) || !bytes.Equal(k.Signature, keys[1].Signature) || k.CallerARN != keys[1].CallerARN {
		t.Fatalf("record differs: %+v", k)
	}
	// Expiry is exclusive: at its expiry time a key is gone.
	if got, _ := s.ListPushedKeys(ctx, "i-1", "ec2-user", at(1)); len(got) != 1 || got[0].KeyID != "k2" {
		t.Fatalf("keys at 1: %+v", got)
	}
	if n, err := s.DeleteExpiredPushedKeys(ctx, at(2)); err != nil || n != 1 {
		t.Fatalf("delete expired: %d %v", n, err)
	}
	if got, _ := s.ListPushedKeys(ctx, "i-2", "ec2-user", at(0)); len(got) != 1 {
		t.Fatalf("i-2's key: %+v", got)
	}
}

// testEventLookup: CloudTrail's lookup attributes and paging newest first.
func testEventLookup(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(id string, minute int, name, source, user, akid, rtype, rname string, ro bool) store.Event {
		return store.Event{EventID: id, EventTime: at(minute), EventName: name, EventSource: source, Username: user, AccessKeyID: akid,
			ResourceType: rtype, ResourceName: rname, ReadOnly: ro, RequestID: "r-" + id, Body: `{"eventID":"` + id + `"}`}
	}
	evs := []store.Event{
		mk("e1", 1, "OpenTunnel", "ec2-instance-connect.amazonaws.com", "alice", "AKIA1", "AWS::EC2::InstanceConnectEndpoint", "eice-1", false),
		mk("e2", 2, "DescribeInstances", "ec2.amazonaws.com", "alice", "AKIA1", "", "", true),
		mk("e3", 3, "OpenTunnel", "ec2-instance-connect.amazonaws.com", "bob", "AKIA2", "AWS::EC2::InstanceConnectEndpoint", "eice-2", false),
		mk("e4", 3, "CreateUser", "iam.amazonaws.com", "admin", "AKIA0", "AWS::IAM::User", "carol", false),
	}
	for _, e := range evs {
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(q store.EventQuery) string {
		got, err := s.ListEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got {
			out = append(out, e.EventID)
		}
		return strings.Join(out, ",")
	}
	yes, no := true, false
	tests := []struct {
		name string
		q    store.EventQuery
		want string
	}{
		{"all newest first, ties by id", store.EventQuery{}, "e4,e3,e2,e1"},
		{"event id", store.EventQuery{EventID: "e2"}, "e2"},
		{"source", store.EventQuery{EventSource: "ec2-instance-connect.amazonaws.com"}, "e3,e1"},
		{"user", store.EventQuery{Username: "alice"}, "e2,e1"},
		{"access key", store.EventQuery{AccessKeyID: "AKIA2"}, "e3"},
		{"resource type", store.EventQuery{ResourceType: "AWS::IAM::User"}, "e4"},
		{"resource name", store.EventQuery{ResourceName: "eice-1"}, "e1"},
		{"read only", store.EventQuery{ReadOnly: &yes}, "e2"},
		{"not read only", store.EventQuery{ReadOnly: &no}, "e4,e3,e1"},
		{"page after e4", store.EventQuery{AfterTime: at(3), AfterID: "e4", Limit: 2}, "e3,e2"},
		{"page after e3", store.EventQuery{AfterTime: at(3), AfterID: "e3"}, "e2,e1"},
	}
	for _, tc := range tests {
		if got := ids(tc.q); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func testReplicas(t *testing.T, s store.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutReplica(ctx, store.Replica{ReplicaID: "r2", Advertise: "b:443", StartedAt: at(0), LastSeen: at(1)}))
	must(s.PutReplica(ctx, store.Replica{ReplicaID: "r1", Advertise: "a:443", StartedAt: at(0), LastSeen: at(5)}))
	// A refresh keeps the start time and moves the address and last-seen time.
	must(s.PutReplica(ctx, store.Replica{ReplicaID: "r2", Advertise: "b2:443", StartedAt: at(9), LastSeen: at(6)}))
	got, err := s.ListReplicas(ctx, at(0))
	must(err)
	if len(got) != 2 || got[0].ReplicaID != "r1" || got[1].Advertise != "b2:443" || !got[1].StartedAt.Equal(at(0).UTC()) || !got[1].LastSeen.Equal(at(6).UTC()) {
		t.Fatalf("replicas %+v", got)
	}
	if got, _ := s.ListReplicas(ctx, at(5)); len(got) != 1 || got[0].ReplicaID != "r2" {
		t.Fatalf("replicas seen after 5: %+v", got)
	}
	must(s.DeleteReplica(ctx, "r2"))
	must(s.DeleteReplica(ctx, "nope"))
	if got, _ := s.ListReplicas(ctx, at(0)); len(got) != 1 {
		t.Fatalf("after delete: %+v", got)
	}
}

func testLiveTunnels(t *testing.T, s store.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tun := func(id string, started, bytes int) store.LiveTunnel {
		return store.LiveTunnel{TunnelID: id, EndpointID: "eice-1", AgentID: "eni-1", Principal: "arn:aws:iam::1:user/a",
			SourceIP: "192.0.2.1", Address: "10.0.0.5", Port: 22, Started: at(started), Deadline: at(started + 3600),
			BytesIn: int64(bytes), BytesOut: int64(2 * bytes), Updated: at(started + bytes)}
	}
	term, err := s.SyncLiveTunnels(ctx, "r1", []store.LiveTunnel{tun("t1", 2, 0), tun("t2", 1, 0)}, nil)
	must(err)
	if len(term) != 0 {
		t.Fatalf("nothing asked to end: %+v", term)
	}
	_, err = s.SyncLiveTunnels(ctx, "r2", []store.LiveTunnel{tun("t3", 3, 0)}, nil)
	must(err)
	list, err := s.ListLiveTunnels(ctx)
	must(err)
	if len(list) != 3 || list[0].TunnelID != "t2" || list[1].TunnelID != "t1" || list[2].ReplicaID != "r2" {
		t.Fatalf("list %+v", list)
	}
	if got := list[1]; got.ReplicaID != "r1" || got.EndpointID != "eice-1" || got.AgentID != "eni-1" || got.SourceIP != "192.0.2.1" ||
		got.Address != "10.0.0.5" || got.Port != 22 || !got.Started.Equal(at(2)) || !got.Deadline.Equal(at(3602)) ||
		got.Principal != "arn:aws:iam::1:user/a" || got.TerminateMessage != "" {
		t.Fatalf("t1 read back as %+v", got)
	}

	// Another replica asks r1 to end t1; a refresh keeps the request.
	must(s.RequestTunnelTermination(ctx, "t1", "terminated by bob"))
	if err := s.RequestTunnelTermination(ctx, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown tunnel: %v", err)
	}
	term, err = s.SyncLiveTunnels(ctx, "r1", []store.LiveTunnel{tun("t1", 2, 7)}, nil)
	must(err)
	if len(term) != 1 || term[0].TunnelID != "t1" || term[0].TerminateMessage != "terminated by bob" || term[0].BytesIn != 7 {
		t.Fatalf("to terminate %+v", term)
	}
	// r2 is not told about r1's tunnels, and cannot remove them.
	term, err = s.SyncLiveTunnels(ctx, "r2", nil, []string{"t1"})
	must(err)
	if len(term) != 0 {
		t.Fatalf("r2 told to end %+v", term)
	}
	term, err = s.SyncLiveTunnels(ctx, "r1", nil, []string{"t1", "never"})
	must(err)
	if len(term) != 0 {
		t.Fatalf("after t1 ended: %+v", term)
	}
	list, err = s.ListLiveTunnels(ctx)
	must(err)
	if len(list) != 2 {
		t.Fatalf("after t1 ended: %+v", list)
	}
	// r2 stopped: its tunnels go, r1's stay.
	n, err := s.DeleteLiveTunnels(ctx, []string{"r1"})
	must(err)
	if list, _ = s.ListLiveTunnels(ctx); n != 1 || len(list) != 1 || list[0].TunnelID != "t2" {
		t.Fatalf("after r2 went (%d removed): %+v", n, list)
	}
	n, err = s.DeleteLiveTunnels(ctx, nil)
	must(err)
	if list, _ = s.ListLiveTunnels(ctx); n != 1 || len(list) != 0 {
		t.Fatalf("after every replica went (%d removed): %+v", n, list)
	}
}
