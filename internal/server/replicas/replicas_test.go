package replicas_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/server/livetunnels"
	"github.com/postern/postern/internal/server/replicas"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	return sqlitetest.Open(t)
}

// recorder keeps the lists a Membership hands to OnChange.
type recorder struct {
	mu    sync.Mutex
	lists [][]tunnelproto.Replica
	ch    chan []tunnelproto.Replica
}

func newRecorder() *recorder { return &recorder{ch: make(chan []tunnelproto.Replica, 64)} }

func (r *recorder) onChange(list []tunnelproto.Replica) {
	r.mu.Lock()
	r.lists = append(r.lists, list)
	r.mu.Unlock()
	select {
	case r.ch <- list:
	default:
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lists)
}

func (r *recorder) last() []tunnelproto.Replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lists) == 0 {
		return nil
	}
	return r.lists[len(r.lists)-1]
}

// waitFor waits, at most limit, for a list with n replicas. limit is a
// guard against a hang (far below the tests' hour-long heartbeats, which
// a notice that came only with the next heartbeat would need), not a
// measure: a starved CI machine under -race may take seconds over it.
func (r *recorder) waitFor(t *testing.T, n int, limit time.Duration) []tunnelproto.Replica {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case list := <-r.ch:
			if len(list) == n {
				return list
			}
		case <-timeout:
			t.Fatalf("no list of %d replicas within %v; last: %v", n, limit, r.last())
		}
	}
}

const (
	selfID   = "r-0000000000000001"
	selfAddr = "127.0.0.1:8443"
	otherID  = "r-0000000000000002"
)

func liveTunnel(id, replica string) store.LiveTunnel {
	now := time.Now().UTC()
	return store.LiveTunnel{TunnelID: id, ReplicaID: replica, EndpointID: "eice-0123456789abcdef0", AgentID: "eni-0123456789abcdef0",
		Principal: "arn:aws:iam::123456789012:user/alice", SourceIP: "127.0.0.1", Address: "10.0.0.1", Port: 22,
		Started: now, Deadline: now.Add(time.Hour), Updated: now}
}

// TestAnnounce: an announce records this replica, hands on the replicas
// seen within three heartbeats (this one included, invalid records left
// out) and removes the live tunnels of those that vanished.
func TestAnnounce(t *testing.T) {
	hb := time.Minute
	tests := []struct {
		name        string
		others      []store.Replica // in the registry before the announce
		tunnels     []store.LiveTunnel
		want        []tunnelproto.Replica
		wantTunnels []string // live tunnels left
	}{
		{name: "alone", want: []tunnelproto.Replica{{ID: selfID, Addr: selfAddr}}},
		{
			name:   "another live replica",
			others: []store.Replica{{ReplicaID: otherID, Advertise: "127.0.0.2:8443", LastSeen: time.Now().UTC()}},
			want:   []tunnelproto.Replica{{ID: selfID, Addr: selfAddr}, {ID: otherID, Addr: "127.0.0.2:8443"}},
		},
		{
			name:   "a record with an invalid address is ignored",
			others: []store.Replica{{ReplicaID: otherID, Advertise: "not an address", LastSeen: time.Now().UTC()}},
			want:   []tunnelproto.Replica{{ID: selfID, Addr: selfAddr}},
		},
		{
			name:        "a vanished replica is dropped with its tunnels",
			others:      []store.Replica{{ReplicaID: otherID, Advertise: "127.0.0.2:8443", LastSeen: time.Now().UTC().Add(-3*hb - time.Second)}},
			tunnels:     []store.LiveTunnel{liveTunnel("tun-mine", selfID), liveTunnel("tun-vanished", otherID)},
			want:        []tunnelproto.Replica{{ID: selfID, Addr: selfAddr}},
			wantTunnels: []string{"tun-mine"},
		},
		{
			name:        "a live replica's tunnels stay",
			others:      []store.Replica{{ReplicaID: otherID, Advertise: "127.0.0.2:8443", LastSeen: time.Now().UTC()}},
			tunnels:     []store.LiveTunnel{liveTunnel("tun-mine", selfID), liveTunnel("tun-other", otherID)},
			want:        []tunnelproto.Replica{{ID: selfID, Addr: selfAddr}, {ID: otherID, Addr: "127.0.0.2:8443"}},
			wantTunnels: []string{"tun-mine", "tun-other"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := openSQLite(t)
			for _, r := range tc.others {
				r.StartedAt = r.LastSeen
				if err := st.PutReplica(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			for _, lt := range tc.tunnels {
				if _, err := st.SyncLiveTunnels(ctx, lt.ReplicaID, []store.LiveTunnel{lt}, nil); err != nil {
					t.Fatal(err)
				}
			}
			rec := newRecorder()
			m := replicas.New(replicas.Config{Store: st, ID: selfID, Address: selfAddr, Heartbeat: hb, OnChange: rec.onChange})
			m.Announce(ctx)
			if got := rec.last(); !slices.Equal(got, tc.want) {
				t.Errorf("OnChange got %v, want %v", got, tc.want)
			}
			var wantIDs []string
			for _, r := range tc.want {
				wantIDs = append(wantIDs, r.ID)
			}
			if got := m.Live(); !slices.Equal(got, wantIDs) {
				t.Errorf("Live() = %v, want %v", got, wantIDs)
			}
			rs, err := st.ListReplicas(ctx, time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(rs, func(r store.Replica) bool { return r.ReplicaID == selfID && r.Advertise == selfAddr }) {
				t.Errorf("the registry lacks this replica: %v", rs)
			}
			lts, err := st.ListLiveTunnels(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, lt := range lts {
				left = append(left, lt.TunnelID)
			}
			slices.Sort(left)
			if !slices.Equal(left, tc.wantTunnels) {
				t.Errorf("live tunnels left: %v, want %v", left, tc.wantTunnels)
			}
		})
	}
}

// TestWithdraw: a withdrawn replica leaves the registry and no later
// announce brings it back.
func TestWithdraw(t *testing.T) {
	ctx := t.Context()
	st := openSQLite(t)
	rec := newRecorder()
	m := replicas.New(replicas.Config{Store: st, ID: selfID, Address: selfAddr, Heartbeat: time.Minute, OnChange: rec.onChange})
	m.Announce(ctx)
	if err := m.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	m.Announce(ctx)
	rs, err := st.ListReplicas(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Errorf("registry after Withdraw: %v, want empty", rs)
	}
	if n := rec.count(); n != 1 {
		t.Errorf("OnChange ran %d times, want once (before Withdraw)", n)
	}
}

// TestReplicasNoticeEachOtherAtOnce: on a shared store (PostgreSQL) a
// replica that starts or withdraws tells the others at once, long before
// their next heartbeat.
func TestReplicasNoticeEachOtherAtOnce(t *testing.T) {
	dsn := pgtest.Start(t)
	open := func() store.Store {
		st, err := sqlstore.OpenPostgres(t.Context(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if !store.IsReplicated(st) {
			t.Fatal("a PostgreSQL store does not say it is shared")
		}
		return st
	}
	ctx := context.Background()
	recA := newRecorder()
	a := replicas.New(replicas.Config{Store: open(), Address: "127.0.0.1:8443", Heartbeat: time.Hour, OnChange: recA.onChange})
	a.Start(ctx)
	t.Cleanup(a.Stop)
	recA.waitFor(t, 1, time.Minute)
	b := replicas.New(replicas.Config{Store: open(), Address: "127.0.0.2:8443", Heartbeat: time.Hour})
	b.Start(ctx)
	t.Cleanup(b.Stop)
	got := recA.waitFor(t, 2, time.Minute)
	if !slices.ContainsFunc(got, func(r tunnelproto.Replica) bool { return r.ID == b.ID() && r.Addr == b.Address() }) {
		t.Errorf("A lists %v, without B (%s)", got, b.ID())
	}
	if err := b.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if got := recA.waitFor(t, 1, time.Minute); got[0].ID != a.ID() {
		t.Errorf("A lists %v after B withdrew", got)
	}
}

// TestAloneStoreIsNotShared: SQLite serves one process; Start announces
// without telling anyone.
func TestAloneStoreIsNotShared(t *testing.T) {
	st := openSQLite(t)
	if store.IsReplicated(st) {
		t.Fatal("a SQLite store says it is shared")
	}
	rec := newRecorder()
	m := replicas.New(replicas.Config{Store: st, Address: selfAddr, Heartbeat: time.Hour, OnChange: rec.onChange})
	m.Start(t.Context())
	defer m.Stop()
	if got := rec.waitFor(t, 1, time.Minute); got[0].ID != m.ID() {
		t.Errorf("OnChange got %v, want this replica %s", got, m.ID())
	}
}

// TestVanishedReplicaTunnelBytesRecorded: on PostgreSQL, an announce that
// finds a replica vanished keeps its published rows of tunnels still in
// the journal of open tunnels (rows of tunnels opened before the journal
// go), so that the ReplicaGone CloseTunnel record of each carries the
// byte counts and the end time of its last published row; recording the
// close removes the row.
func TestVanishedReplicaTunnelBytesRecorded(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Start(t)
	open := func(carrier string) *sqlstore.PostgresStore {
		st, err := sqlstore.OpenPostgres(ctx, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		st.SetTunnelCarrier(carrier)
		return st
	}
	gone, self := open(otherID), open(selfID)
	hb := time.Minute
	opened := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Microsecond)
	if err := gone.PutReplica(ctx, store.Replica{ReplicaID: otherID, Advertise: "127.0.0.2:8443", StartedAt: opened,
		LastSeen: opened.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id                string
		journalled        bool // its OpenTunnel record is in the journal
		bytesIn, bytesOut int64
		updated           time.Time
		keptAfterAnnounce bool
		wantEnd           time.Time // of its recovered CloseTunnel record
	}{
		{id: "tun-bytes", journalled: true, bytesIn: 1234, bytesOut: 56789, updated: opened.Add(2 * time.Minute),
			keptAfterAnnounce: true, wantEnd: opened.Add(2 * time.Minute)},
		{id: "tun-idle", journalled: true, updated: opened.Add(30 * time.Second),
			keptAfterAnnounce: true, wantEnd: opened.Add(30 * time.Second)},
		{id: "tun-before-journal", bytesIn: 7, bytesOut: 8, updated: opened.Add(time.Minute)},
	}
	for _, tc := range tests {
		if tc.journalled {
			body := `{"eventID":"open-` + tc.id + `"}`
			if err := gone.AppendEvent(ctx, store.Event{EventID: "open-" + tc.id, EventTime: opened,
				EventSource: "ec2-instance-connect.amazonaws.com", EventName: store.EventNameOpenTunnel, TunnelID: tc.id,
				RequestID: "req-" + tc.id, ResourceName: "eice-0123456789abcdef0", Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		lt := liveTunnel(tc.id, otherID)
		lt.Started, lt.BytesIn, lt.BytesOut, lt.Updated = opened, tc.bytesIn, tc.bytesOut, tc.updated
		if _, err := gone.SyncLiveTunnels(ctx, otherID, []store.LiveTunnel{lt}, nil); err != nil {
			t.Fatal(err)
		}
	}

	m := replicas.New(replicas.Config{Store: self, ID: selfID, Address: selfAddr, Heartbeat: hb})
	m.Announce(ctx)
	if got := m.Live(); !slices.Equal(got, []string{selfID}) {
		t.Fatalf("Live() = %v, want only this replica", got)
	}
	liveIDs := func() []string {
		lts, err := self.ListLiveTunnels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, lt := range lts {
			ids = append(ids, lt.TunnelID)
		}
		slices.Sort(ids)
		return ids
	}
	var wantKept []string
	for _, tc := range tests {
		if tc.keptAfterAnnounce {
			wantKept = append(wantKept, tc.id)
		}
	}
	slices.Sort(wantKept)
	if got := liveIDs(); !slices.Equal(got, wantKept) {
		t.Fatalf("rows after the announce: %v, want %v", got, wantKept)
	}
	// The live replicas neither list nor end the kept rows.
	dir, err := livetunnels.New(livetunnels.Config{FrontDoor: noTunnels{}, ReplicaID: selfID, Store: self, Live: m.Live})
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := dir.Tunnels(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("ListTunnels shows %+v, %v; want none of the vanished replica's", ts, err)
	}
	all := func(frontdoor.TunnelInfo) bool { return true }
	if n, err := dir.Terminate(ctx, all, 1008, "Revoked", "ended by the operator"); err != nil || n != 0 {
		t.Fatalf("TerminateTunnel ended %d, %v; want none of the vanished replica's", n, err)
	}
	if lts, err := self.ListLiveTunnels(ctx); err != nil {
		t.Fatal(err)
	} else {
		for _, lt := range lts {
			if lt.TerminateMessage != "" {
				t.Fatalf("the vanished replica's tunnel %s was asked to end", lt.TunnelID)
			}
		}
	}

	w := audit.NewWriter(self, func(err error) { t.Errorf("sink: %v", err) })
	n, err := w.CloseUnclosedTunnels(ctx, self, audit.Unclosed{Keep: m.Live(), Reason: audit.ReasonReplicaGone})
	if err != nil || n != 2 {
		t.Fatalf("CloseUnclosedTunnels: %d, %v; want 2", n, err)
	}
	for _, tc := range tests {
		if !tc.journalled {
			continue
		}
		evs, err := self.ListEvents(ctx, store.EventQuery{EventName: audit.EventCloseTunnel, Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		var got []store.Event
		for _, e := range evs {
			if e.TunnelID == tc.id {
				got = append(got, e)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d CloseTunnel records, want 1", tc.id, len(got))
		}
		var rec struct {
			Details audit.CloseDetails `json:"serviceEventDetails"`
		}
		if err := json.Unmarshal([]byte(got[0].Body), &rec); err != nil {
			t.Fatal(err)
		}
		d := rec.Details
		if d.Reason != audit.ReasonReplicaGone || d.BytesIn != tc.bytesIn || d.BytesOut != tc.bytesOut ||
			!got[0].EventTime.Equal(tc.wantEnd) || d.DurationSeconds != tc.wantEnd.Sub(opened).Seconds() {
			t.Errorf("%s: recovered close at %v, %+v; want bytes %d/%d, end %v", tc.id, got[0].EventTime, d,
				tc.bytesIn, tc.bytesOut, tc.wantEnd)
		}
	}
	if got := liveIDs(); len(got) != 0 {
		t.Errorf("rows after the recovery: %v, want none", got)
	}
}

// noTunnels is a front door carrying no tunnel (this replica's own are
// not what TestVanishedReplicaTunnelBytesRecorded looks at).
type noTunnels struct{}

func (noTunnels) Tunnels() []frontdoor.TunnelInfo { return nil }

func (noTunnels) Terminate(func(frontdoor.TunnelInfo) bool, int, string, string) int { return 0 }
