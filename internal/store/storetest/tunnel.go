package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// The tunnel part of the suite (store.Tunnels) and FindInstanceByAddress.
// Beyond the contract written in package store it requires:
//
//   - a zero time (RevokedAt, LastConnectedAt, UsedAt, …) comes back as
//     the zero time;
//   - hashes come back byte for byte;
//   - agents are listed by id, join tokens by creation time, and an
//     endpoint with none has an empty list, not an error;
//   - a join token that cannot be redeemed is left as it was;
//   - of concurrent redemptions of one token exactly one succeeds, and of
//     concurrent first uses of one presigned URL exactly one is first,
//     whether the calls run on their own or inside InTx;
//   - events of the same time are listed by id, descending;
//   - every tunnel write inside a rolled-back InTx leaves nothing behind.

// tunnelTime is deliberately not in UTC and has microseconds.
var tunnelTime = time.Date(2027, 3, 14, 15, 9, 26, 535_897_000, time.FixedZone("UTC+9", 9*3600))

// tt returns tunnelTime plus n minutes.
func tt(n int) time.Time { return tunnelTime.Add(time.Duration(n) * time.Minute) }

// hash returns a SHA-256 that, like a real one, holds zero and high bytes.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	h[0], h[1] = 0x00, 0xff
	return h[:]
}

func agentRec(n int, endpointID string) store.Agent {
	return store.Agent{
		AgentID: fmt.Sprintf("eni-%017d", n), EndpointID: endpointID, Name: fmt.Sprintf("host-%d", n),
		KeyFingerprint: fmt.Sprintf("%x", hash(fmt.Sprint("key ", n))), CreatedAt: tt(n),
		CreatedBy: "arn:aws:iam::" + account + ":user/ops",
	}
}

func joinTokenRec(n int, endpointID string, created, expires time.Time) store.JoinToken {
	return store.JoinToken{
		TokenHash: hash(fmt.Sprint("token ", n)), TokenID: fmt.Sprintf("ejt-%017d", n), EndpointID: endpointID,
		CreatedBy: "arn:aws:iam::" + account + ":user/ops", CreatedAt: created, ExpiresAt: expires,
	}
}

func eventRec(id string, at time.Time, name, tunnelID string) store.Event {
	return store.Event{
		EventID: id, EventTime: at, EventSource: "ec2-instance-connect.amazonaws.com", EventName: name,
		Username: "alice", AccessKeyID: "AKIAEXAMPLE", ResourceType: "AWS::EC2::InstanceConnectEndpoint",
		ResourceName: "eice-1", TunnelID: tunnelID, RequestID: "req-" + id,
		Body: `{"eventID":"` + id + `","eventName":"` + name + `","note":"Grüße ✓"}`,
	}
}

func agentID(a store.Agent) string         { return a.AgentID }
func joinTokenID(t store.JoinToken) string { return t.TokenID }
func eventID(e store.Event) string         { return e.EventID }

func testAgents(t *testing.T, s store.Store) {
	ctx := context.Background()
	const e1, e2 = "eice-1", "eice-2"
	a1, a2, a3 := agentRec(1, e1), agentRec(2, e2), agentRec(3, e1)
	a2.LastAddress, a2.LastVersion, a2.LastConnectedAt = "198.51.100.2:40000", "v0.1.0", tt(30)
	for _, a := range []store.Agent{a3, a1, a2} {
		want(t, s.CreateAgent(ctx, a), nil, "create agent "+a.AgentID)
	}

	dupID := agentRec(4, e1)
	dupID.AgentID = a1.AgentID
	dupKey := agentRec(5, e1)
	dupKey.KeyFingerprint = a2.KeyFingerprint
	for _, tc := range []struct {
		name string
		a    store.Agent
	}{{"duplicate id", dupID}, {"duplicate key fingerprint", dupKey}} {
		want(t, s.CreateAgent(ctx, tc.a), store.ErrConflict, tc.name)
	}

	got, err := s.GetAgent(ctx, a1.AgentID)
	want(t, err, nil, "get agent")
	same(t, got, a1, "agent")
	if !got.RevokedAt.IsZero() || !got.LastConnectedAt.IsZero() {
		t.Fatalf("unset times came back as %v and %v, want zero", got.RevokedAt, got.LastConnectedAt)
	}
	got, err = s.GetAgentByKey(ctx, a2.KeyFingerprint)
	want(t, err, nil, "get agent by key")
	same(t, got, a2, "agent by key")
	_, err = s.GetAgent(ctx, "eni-missing")
	want(t, err, store.ErrNotFound, "missing agent")
	_, err = s.GetAgentByKey(ctx, "00ff")
	want(t, err, store.ErrNotFound, "unknown key")

	for _, tc := range []struct {
		endpoint string
		want     []string
	}{
		{"", []string{a1.AgentID, a2.AgentID, a3.AgentID}},
		{e1, []string{a1.AgentID, a3.AgentID}},
		{e2, []string{a2.AgentID}},
		{"eice-none", nil},
	} {
		list, err := s.ListAgents(ctx, tc.endpoint)
		want(t, err, nil, "list agents of "+tc.endpoint)
		sameIDs(t, ids(list, agentID), tc.want, "agents of "+tc.endpoint)
	}

	want(t, s.UpdateAgentConnection(ctx, a1.AgentID, "[2001:db8::1]:5000", "v0.2.0", tt(40)), nil, "update connection")
	want(t, s.UpdateAgentConnection(ctx, "eni-missing", "x", "y", tt(40)), store.ErrNotFound, "update a missing agent")
	a1.LastAddress, a1.LastVersion, a1.LastConnectedAt = "[2001:db8::1]:5000", "v0.2.0", tt(40)
	got, _ = s.GetAgent(ctx, a1.AgentID)
	same(t, got, a1, "agent after a connection")

	want(t, s.RevokeAgent(ctx, a1.AgentID, tt(50)), nil, "revoke")
	want(t, s.RevokeAgent(ctx, a1.AgentID, tt(60)), nil, "revoke again")
	want(t, s.RevokeAgent(ctx, "eni-missing", tt(50)), store.ErrNotFound, "revoke a missing agent")
	a1.RevokedAt = tt(50)
	got, _ = s.GetAgent(ctx, a1.AgentID)
	same(t, got, a1, "agent revoked twice keeps the first time")
	list, _ := s.ListAgents(ctx, e1)
	sameIDs(t, ids(list, agentID), []string{a1.AgentID, a3.AgentID}, "revoked agents are listed")
	same(t, list[0], a1, "listed revoked agent")
}

func testJoinTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	const e1, e2 = "eice-1", "eice-2"
	t1 := joinTokenRec(1, e1, tt(2), tt(62))
	t2 := joinTokenRec(2, e2, tt(1), tt(11))
	t3 := joinTokenRec(3, e1, tt(3), tt(33))
	for _, tok := range []store.JoinToken{t1, t2, t3} {
		want(t, s.CreateJoinToken(ctx, tok), nil, "create "+tok.TokenID)
	}
	dupHash := joinTokenRec(4, e1, tt(4), tt(64))
	dupHash.TokenHash = bytes.Clone(t1.TokenHash)
	dupID := joinTokenRec(5, e1, tt(4), tt(64))
	dupID.TokenID = t2.TokenID
	for _, tc := range []struct {
		name string
		tok  store.JoinToken
	}{{"duplicate hash", dupHash}, {"duplicate id", dupID}} {
		want(t, s.CreateJoinToken(ctx, tc.tok), store.ErrConflict, tc.name)
	}

	for _, tc := range []struct {
		endpoint string
		want     []store.JoinToken
	}{
		{"", []store.JoinToken{t2, t1, t3}},
		{e1, []store.JoinToken{t1, t3}},
		{e2, []store.JoinToken{t2}},
		{"eice-none", nil},
	} {
		list, err := s.ListJoinTokens(ctx, tc.endpoint)
		want(t, err, nil, "list tokens of "+tc.endpoint)
		sameIDs(t, ids(list, joinTokenID), ids(tc.want, joinTokenID), "tokens of "+tc.endpoint)
		for i := range list {
			same(t, list[i], tc.want[i], "listed token")
		}
	}

	// Redemptions, in order: each row sees what the ones before it did.
	for _, tc := range []struct {
		name   string
		hash   []byte
		at     time.Time
		target error
	}{
		{"unknown token", hash("token 99"), tt(5), store.ErrNotFound},
		{"expired token", t2.TokenHash, tt(12), store.ErrNotFound},
		{"token at its expiry", t2.TokenHash, t2.ExpiresAt, store.ErrNotFound},
		{"valid token", t1.TokenHash, tt(10), nil},
		{"used token", t1.TokenHash, tt(11), store.ErrNotFound},
		{"a prefix of a token's hash", t3.TokenHash[:16], tt(10), store.ErrNotFound},
	} {
		got, err := s.RedeemJoinToken(ctx, tc.hash, "eni-agent", tc.at)
		want(t, err, tc.target, tc.name)
		if tc.target == nil {
			w := t1
			w.UsedAt, w.UsedBy = tc.at, "eni-agent"
			same(t, got, w, "redeemed token")
		}
	}
	list, _ := s.ListJoinTokens(ctx, "")
	t1.UsedAt, t1.UsedBy = tt(10), "eni-agent"
	for i, w := range []store.JoinToken{t2, t1, t3} {
		same(t, list[i], w, "token after the redemptions")
	}

	// Inside a transaction.
	err := s.InTx(ctx, func(tx store.Repo) error {
		got, err := tx.RedeemJoinToken(ctx, t3.TokenHash, "eni-tx", tt(20))
		if err != nil {
			return err
		}
		if !got.UsedAt.Equal(tt(20)) || got.UsedBy != "eni-tx" {
			return fmt.Errorf("redeemed in a transaction: %+v", got)
		}
		_, err = tx.RedeemJoinToken(ctx, t3.TokenHash, "eni-tx2", tt(21))
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("second redemption in a transaction: %v", err)
		}
		return nil
	})
	want(t, err, nil, "redeem in InTx")

	n, err := s.DeleteExpiredJoinTokens(ctx, t3.ExpiresAt)
	want(t, err, nil, "delete expired")
	if n != 1 {
		t.Fatalf("deleted %d tokens, want 1 (the one expiring before the other's expiry)", n)
	}
	list, _ = s.ListJoinTokens(ctx, "")
	sameIDs(t, ids(list, joinTokenID), []string{t1.TokenID, t3.TokenID}, "tokens after delete")
	n, err = s.DeleteExpiredJoinTokens(ctx, tt(1000))
	want(t, err, nil, "delete all")
	if n != 2 {
		t.Fatalf("deleted %d tokens, want 2", n)
	}
}

// testJoinTokenRace: of redemptions of one token at once, half on their
// own and half inside InTx, exactly one succeeds.
func testJoinTokenRace(t *testing.T, s store.Store) { joinTokenRace(t, []store.Store{s}) }

func testPresignUses(t *testing.T, s store.Store) {
	ctx := context.Background()
	u1 := store.PresignUse{SignatureHash: hash("sig 1"), SourceIP: "192.0.2.1", FirstUsedAt: tt(0), ExpiresAt: tt(1)}
	u2 := store.PresignUse{SignatureHash: hash("sig 2"), SourceIP: "2001:db8::2", FirstUsedAt: tt(1), ExpiresAt: tt(5)}
	replay := u1
	replay.SourceIP, replay.FirstUsedAt = "203.0.113.9", tt(0).Add(time.Second)
	again := u1 // the same address at the same time is still a replay
	for _, tc := range []struct {
		name    string
		u       store.PresignUse
		first   store.PresignUse
		isFirst bool
	}{
		{"first use", u1, u1, true},
		{"replay from elsewhere", replay, u1, false},
		{"identical replay", again, u1, false},
		{"another URL", u2, u2, true},
	} {
		first, isFirst, err := s.RecordPresignUse(ctx, tc.u)
		want(t, err, nil, tc.name)
		if isFirst != tc.isFirst {
			t.Fatalf("%s: isFirst = %v, want %v", tc.name, isFirst, tc.isFirst)
		}
		same(t, first, tc.first, tc.name)
	}

	// Inside a transaction, which rolls back.
	u3 := store.PresignUse{SignatureHash: hash("sig 3"), SourceIP: "192.0.2.3", FirstUsedAt: tt(2), ExpiresAt: tt(3)}
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Repo) error {
		for i, wantFirst := range []bool{true, false} {
			u := u3
			u.SourceIP = fmt.Sprint("192.0.2.", 30+i)
			first, isFirst, err := tx.RecordPresignUse(ctx, u)
			if err != nil {
				return err
			}
			if isFirst != wantFirst || first.SourceIP != "192.0.2.30" {
				return fmt.Errorf("use %d in a transaction: %+v first=%v", i, first, isFirst)
			}
		}
		if _, isFirst, err := tx.RecordPresignUse(ctx, u1); err != nil || isFirst {
			return fmt.Errorf("replay in a transaction: first=%v err=%v", isFirst, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	_, isFirst, err := s.RecordPresignUse(ctx, u3)
	want(t, err, nil, "use after a rolled-back first use")
	if !isFirst {
		t.Fatal("a use recorded in a rolled-back transaction survived")
	}

	n, err := s.DeleteExpiredPresignUses(ctx, tt(4))
	want(t, err, nil, "delete expired")
	if n != 2 {
		t.Fatalf("deleted %d uses, want 2 (sig 1 and sig 3)", n)
	}
	_, isFirst, err = s.RecordPresignUse(ctx, u2)
	want(t, err, nil, "use of a kept record")
	if isFirst {
		t.Fatal("a record that had not expired was deleted")
	}
	_, isFirst, err = s.RecordPresignUse(ctx, replay)
	want(t, err, nil, "use after delete")
	if !isFirst {
		t.Fatal("an expired record was kept")
	}
}

// testPresignUseRace: concurrent first uses of one URL from different
// addresses, on their own and inside InTx, agree on one first use.
func testPresignUseRace(t *testing.T, s store.Store) { presignUseRace(t, []store.Store{s}) }

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Times: e1 < e2 = e3 < e4 < e5; e2 and e3 tie and list by id.
	e1 := eventRec("ev-1", tt(1), "OpenTunnel", "tnl-1")
	e2 := eventRec("ev-2", tt(2), "CloseTunnel", "tnl-1")
	e3 := eventRec("ev-3", tt(2), "OpenTunnel", "tnl-2")
	e4 := eventRec("ev-4", tt(3), "OpenTunnel", "")
	e4.ErrorCode, e4.Body = "AccessDenied", `{}`
	e5 := eventRec("ev-5", tt(4), "DescribeInstanceConnectEndpoints", "")
	e5.ReadOnly = true
	for _, e := range []store.Event{e3, e1, e5, e2, e4} {
		want(t, s.AppendEvent(ctx, e), nil, "append "+e.EventID)
	}
	dup := eventRec("ev-1", tt(9), "Other", "")
	want(t, s.AppendEvent(ctx, dup), store.ErrConflict, "duplicate event id")

	all, err := s.ListEvents(ctx, store.EventQuery{})
	want(t, err, nil, "list all")
	for i, e := range []store.Event{e5, e4, e3, e2, e1} {
		same(t, all[i], e, "listed event "+e.EventID)
	}

	for _, tc := range []struct {
		name string
		q    store.EventQuery
		want []store.Event
	}{
		{"all", store.EventQuery{}, []store.Event{e5, e4, e3, e2, e1}},
		{"by name", store.EventQuery{EventName: "OpenTunnel"}, []store.Event{e4, e3, e1}},
		{"by unknown name", store.EventQuery{EventName: "opentunnel"}, nil},
		{"by tunnel", store.EventQuery{TunnelID: "tnl-1"}, []store.Event{e2, e1}},
		{"since (inclusive)", store.EventQuery{Since: tt(2)}, []store.Event{e5, e4, e3, e2}},
		{"until (exclusive)", store.EventQuery{Until: tt(2)}, []store.Event{e1}},
		{"since and until", store.EventQuery{Since: tt(2), Until: tt(4)}, []store.Event{e4, e3, e2}},
		{"limit", store.EventQuery{Limit: 2}, []store.Event{e5, e4}},
		{"limit across a tie", store.EventQuery{Limit: 3}, []store.Event{e5, e4, e3}},
		{"limit above the count", store.EventQuery{Limit: 50}, []store.Event{e5, e4, e3, e2, e1}},
		{"name and limit", store.EventQuery{EventName: "OpenTunnel", Limit: 2}, []store.Event{e4, e3}},
		{"name and tunnel", store.EventQuery{EventName: "OpenTunnel", TunnelID: "tnl-1"}, []store.Event{e1}},
		{"every filter", store.EventQuery{EventName: "OpenTunnel", TunnelID: "tnl-2", Since: tt(2), Until: tt(3), Limit: 1}, []store.Event{e3}},
		{"empty window", store.EventQuery{Since: tt(3), Until: tt(3)}, nil},
	} {
		got, err := s.ListEvents(ctx, tc.q)
		want(t, err, nil, tc.name)
		sameIDs(t, ids(got, eventID), ids(tc.want, eventID), tc.name)
	}
}

// testTunnelsRollback: tunnel writes inside a rolled-back InTx leave
// nothing behind; the same writes in a committed one stay.
func testTunnelsRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := joinTokenRec(1, "eice-1", tt(0), tt(60))
	want(t, s.CreateJoinToken(ctx, tok), nil, "create token")
	a := agentRec(1, "eice-1")
	want(t, s.CreateAgent(ctx, a), nil, "create agent")
	use := store.PresignUse{SignatureHash: hash("sig"), SourceIP: "192.0.2.1", FirstUsedAt: tt(1), ExpiresAt: tt(2)}

	writes := func(tx store.Repo) error {
		if err := tx.AppendEvent(ctx, eventRec("ev-1", tt(1), "OpenTunnel", "tnl-1")); err != nil {
			return err
		}
		if err := tx.CreateAgent(ctx, agentRec(2, "eice-1")); err != nil {
			return err
		}
		if _, err := tx.RedeemJoinToken(ctx, tok.TokenHash, "eni-2", tt(1)); err != nil {
			return err
		}
		if err := tx.CreateJoinToken(ctx, joinTokenRec(2, "eice-1", tt(1), tt(61))); err != nil {
			return err
		}
		if err := tx.UpdateAgentConnection(ctx, a.AgentID, "192.0.2.7:1", "v9", tt(1)); err != nil {
			return err
		}
		if err := tx.RevokeAgent(ctx, a.AgentID, tt(1)); err != nil {
			return err
		}
		_, _, err := tx.RecordPresignUse(ctx, use)
		return err
	}
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Repo) error {
		if err := writes(tx); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if evs, err := tx.ListEvents(ctx, store.EventQuery{}); err != nil || len(evs) != 1 {
			return fmt.Errorf("events inside the transaction: %d, %v", len(evs), err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	evs, err := s.ListEvents(ctx, store.EventQuery{})
	want(t, err, nil, "list events")
	if len(evs) != 0 {
		t.Fatalf("rolled-back events remain: %v", ids(evs, eventID))
	}
	agents, _ := s.ListAgents(ctx, "")
	sameIDs(t, ids(agents, agentID), []string{a.AgentID}, "agents after rollback")
	same(t, agents[0], a, "agent after rollback")
	tokens, _ := s.ListJoinTokens(ctx, "")
	sameIDs(t, ids(tokens, joinTokenID), []string{tok.TokenID}, "tokens after rollback")
	same(t, tokens[0], tok, "token after rollback")

	// A write that fails inside InTx leaves the transaction usable.
	err = s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.AppendEvent(ctx, eventRec("ev-0", tt(0), "OpenTunnel", "")); err != nil {
			return err
		}
		if err := tx.AppendEvent(ctx, eventRec("ev-0", tt(0), "OpenTunnel", "")); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("duplicate event in a transaction: %v", err)
		}
		return writes(tx)
	})
	want(t, err, nil, "committed InTx")
	evs, _ = s.ListEvents(ctx, store.EventQuery{})
	sameIDs(t, ids(evs, eventID), []string{"ev-1", "ev-0"}, "events after commit")
	got, _ := s.GetAgent(ctx, a.AgentID)
	if !got.RevokedAt.Equal(tt(1)) || got.LastVersion != "v9" {
		t.Fatalf("agent after commit: %+v", got)
	}
	if _, isFirst, _ := s.RecordPresignUse(ctx, use); isFirst {
		t.Fatal("the committed presigned URL use is missing")
	}
}

func testFindInstanceByAddress(t *testing.T, s store.Store) {
	ctx := context.Background()
	v1, sn1, def1 := network(t, s, 1)
	v2, sn2, def2 := network(t, s, 2)
	g := sgRec(10, v1.VpcID, "ssh")
	want(t, s.CreateSecurityGroup(ctx, g), nil, "group")
	i1 := instanceRec(1, sn1, "10.0.1.10", g.GroupID, def1.GroupID)
	i1.Ipv6Address = "2600:1f18::10"
	i1.Tags = []store.Tag{{Key: "Name", Value: "web"}, {Key: "env", Value: "prod"}}
	i2 := instanceRec(2, sn2, "10.0.1.10", def2.GroupID)
	i3 := instanceRec(3, sn1, "10.0.1.11", def1.GroupID) // no IPv6 address
	for _, i := range []store.Instance{i1, i2, i3} {
		want(t, s.CreateInstance(ctx, i), nil, "create "+i.InstanceID)
	}

	for _, tc := range []struct {
		name, vpc, ip string
		want          *store.Instance
	}{
		{"private ipv4", v1.VpcID, "10.0.1.10", &i1},
		{"ipv6", v1.VpcID, "2600:1f18::10", &i1},
		{"same ipv4 in another vpc", v2.VpcID, "10.0.1.10", &i2},
		{"instance without ipv6", v1.VpcID, "10.0.1.11", &i3},
		{"ipv6 of another vpc's instance", v2.VpcID, "2600:1f18::10", nil},
		{"unknown address", v1.VpcID, "10.0.1.99", nil},
		{"empty address", v1.VpcID, "", nil},
		{"missing vpc", "vpc-missing", "10.0.1.10", nil},
		{"public address", v1.VpcID, "203.0.113.7", nil},
	} {
		got, err := s.FindInstanceByAddress(ctx, tc.vpc, tc.ip)
		if tc.want == nil {
			want(t, err, store.ErrNotFound, tc.name)
			continue
		}
		want(t, err, nil, tc.name)
		same(t, got, *tc.want, tc.name)
	}

	err := s.InTx(ctx, func(tx store.Repo) error {
		i4 := instanceRec(4, sn1, "10.0.1.12", def1.GroupID)
		if err := tx.CreateInstance(ctx, i4); err != nil {
			return err
		}
		got, err := tx.FindInstanceByAddress(ctx, v1.VpcID, "10.0.1.12")
		if err != nil {
			return err
		}
		if got.InstanceID != i4.InstanceID {
			return fmt.Errorf("found %s, want %s", got.InstanceID, i4.InstanceID)
		}
		return nil
	})
	want(t, err, nil, "find inside InTx")
	want(t, s.DeleteInstance(ctx, i1.InstanceID), nil, "delete instance")
	_, err = s.FindInstanceByAddress(ctx, v1.VpcID, "2600:1f18::10")
	want(t, err, store.ErrNotFound, "address of a deleted instance")
}
