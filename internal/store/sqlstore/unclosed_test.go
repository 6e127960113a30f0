package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/storetest"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// journalStores are the backends the journal tests run on; each opens
// n stores on one fresh database (n > 1 only for PostgreSQL, whose
// replicas share one).
var journalStores = []struct {
	name string
	open func(t *testing.T, n int) []*Store
}{
	{"sqlite", func(t *testing.T, n int) []*Store {
		s, _ := openTemp(t, defaultSQLiteOptions())
		return []*Store{s}
	}},
	{"postgres", func(t *testing.T, n int) []*Store {
		dsn := pgtest.Start(t)
		var out []*Store
		for range n {
			out = append(out, openPG(t, dsn).s)
		}
		return out
	}},
}

// tunnelEvent is a tunnel record: OpenTunnel (errCode empty: it opened)
// or CloseTunnel.
func tunnelEvent(name, tunnelID, errCode string, at time.Time) store.Event {
	id := fmt.Sprintf("%s-%s-%d", name, tunnelID, at.UnixNano())
	return store.Event{EventID: id, EventTime: at, EventSource: "ec2-instance-connect.amazonaws.com", EventName: name,
		ErrorCode: errCode, TunnelID: tunnelID, RequestID: "req-" + tunnelID, ResourceName: "eice-1",
		Body: `{"eventID":"` + id + `"}`}
}

func unclosedIDs(t *testing.T, s *Store, keep []string, seenSince time.Time) []string {
	t.Helper()
	us, err := storetest.UnclosedTunnels(context.Background(), s, keep, seenSince, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range us {
		ids = append(ids, u.TunnelID)
	}
	return ids
}

// The journal holds exactly the tunnels whose OpenTunnel record committed
// and whose CloseTunnel record did not, whichever way the records were
// committed (alone, in a batch, in InTx; an InTx that rolls back journals
// nothing); refused opens are not journalled.
func TestTunnelJournalFollowsTheRecords(t *testing.T) {
	for _, b := range journalStores {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, 1)[0]
			ctx := context.Background()
			t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
			s.SetTunnelCarrier("r-a")
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(s.AppendEvent(ctx, tunnelEvent("OpenTunnel", "tun-1", "", t0)))
			must(s.AppendEvents(ctx, []store.Event{
				tunnelEvent("OpenTunnel", "", "AccessDenied", t0.Add(time.Second)), // refused: no tunnel
				tunnelEvent("OpenTunnel", "tun-2", "", t0.Add(2*time.Second)),
				tunnelEvent("CloseTunnel", "tun-1", "", t0.Add(3*time.Second)),
			}))
			must(s.InTx(ctx, func(tx store.Repo) error {
				return tx.AppendEvent(ctx, tunnelEvent("OpenTunnel", "tun-3", "", t0.Add(4*time.Second)))
			}))
			errRollback := errors.New("roll back")
			if err := s.InTx(ctx, func(tx store.Repo) error {
				if err := tx.AppendEvent(ctx, tunnelEvent("OpenTunnel", "tun-4", "", t0.Add(5*time.Second))); err != nil {
					return err
				}
				return errRollback
			}); !errors.Is(err, errRollback) {
				t.Fatalf("InTx: %v", err)
			}
			s.SetTunnelCarrier("r-b")
			must(s.AppendEvent(ctx, tunnelEvent("OpenTunnel", "tun-5", "", t0.Add(6*time.Second))))

			if got, want := unclosedIDs(t, s, nil, time.Time{}), []string{"tun-2", "tun-3", "tun-5"}; !slices.Equal(got, want) {
				t.Fatalf("unclosed tunnels %q, want %q", got, want)
			}
			if got, want := unclosedIDs(t, s, []string{"r-b"}, time.Time{}), []string{"tun-2", "tun-3"}; !slices.Equal(got, want) {
				t.Fatalf("unclosed tunnels but r-b's %q, want %q", got, want)
			}
			// A carrier that announced itself since seenSince is kept.
			must(s.PutReplica(ctx, store.Replica{ReplicaID: "r-a", Advertise: "a:1", StartedAt: t0, LastSeen: t0.Add(time.Hour)}))
			if got, want := unclosedIDs(t, s, []string{"r-b"}, t0.Add(time.Minute)), []string(nil); !slices.Equal(got, want) {
				t.Fatalf("unclosed tunnels of carriers unseen since: %q, want none", got)
			}
			// Its last announce and published byte counts come with each.
			must(func() error {
				_, err := s.SyncLiveTunnels(ctx, "r-a", []store.LiveTunnel{{TunnelID: "tun-2", Started: t0, Deadline: t0.Add(time.Hour),
					BytesIn: 11, BytesOut: 22, Updated: t0.Add(30 * time.Second)}}, nil)
				return err
			}())
			us, err := storetest.UnclosedTunnels(ctx, s, nil, time.Time{}, 1)
			if err != nil || len(us) != 1 {
				t.Fatalf("storetest.UnclosedTunnels limit 1: %d, %v", len(us), err)
			}
			u := us[0]
			open := tunnelEvent("OpenTunnel", "tun-2", "", t0.Add(2*time.Second))
			if u.TunnelID != "tun-2" || u.Carrier != "r-a" || u.Open.EventID != open.EventID || u.Open.Body != open.Body ||
				!u.Open.EventTime.Equal(open.EventTime) || u.Open.RequestID != "req-tun-2" || u.Open.ResourceName != "eice-1" ||
				!u.CarrierSeen.Equal(t0.Add(time.Hour)) || u.BytesIn != 11 || u.BytesOut != 22 || !u.BytesAt.Equal(t0.Add(30*time.Second)) {
				t.Fatalf("unclosed tunnel %+v", u)
			}
			// The last record before a time.
			last, err := s.LastEventTime(ctx, t0.Add(4*time.Second))
			if err != nil || !last.Equal(t0.Add(3*time.Second)) {
				t.Fatalf("LastEventTime: %v, %v; want %v", last, err, t0.Add(3*time.Second))
			}
			if last, err := s.LastEventTime(ctx, t0); err != nil || !last.IsZero() {
				t.Fatalf("LastEventTime before any: %v, %v", last, err)
			}
		})
	}
}

// CloseUnclosedTunnel commits the record and the journal row's removal
// together, once: a second close, or a close after the carrier recorded
// its own, commits nothing; a record that is not the tunnel's close is
// refused.
func TestCloseUnclosedTunnelOnce(t *testing.T) {
	for _, b := range journalStores {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, 1)[0]
			ctx := context.Background()
			t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
			for _, id := range []string{"tun-1", "tun-2"} {
				if err := s.AppendEvent(ctx, tunnelEvent("OpenTunnel", id, "", t0)); err != nil {
					t.Fatal(err)
				}
			}
			rec := tunnelEvent("CloseTunnel", "tun-1", "", t0.Add(time.Second))
			if _, err := s.CloseUnclosedTunnel(ctx, "tun-2", rec); err == nil {
				t.Fatal("another tunnel's close was accepted")
			}
			for i, want := range []bool{true, false} {
				ok, err := s.CloseUnclosedTunnel(ctx, "tun-1", rec)
				if err != nil || ok != want {
					t.Fatalf("close %d: %v, %v; want %v", i, ok, err, want)
				}
			}
			// The carrier's own close came first: nothing more.
			if err := s.AppendEvent(ctx, tunnelEvent("CloseTunnel", "tun-2", "", t0.Add(2*time.Second))); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.CloseUnclosedTunnel(ctx, "tun-2", tunnelEvent("CloseTunnel", "tun-2", "", t0.Add(3*time.Second))); ok || err != nil {
				t.Fatalf("close after the carrier's: %v, %v", ok, err)
			}
			for _, id := range []string{"tun-1", "tun-2"} {
				evs, err := s.ListEvents(ctx, store.EventQuery{EventName: "CloseTunnel", Limit: -1})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range evs {
					if e.TunnelID == id {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%d CloseTunnel records of %s, want 1", n, id)
				}
			}
			if got := unclosedIDs(t, s, nil, time.Time{}); len(got) != 0 {
				t.Fatalf("unclosed after the closes: %q", got)
			}
		})
	}
}

// Two replicas closing the same tunnels at once (PostgreSQL): each tunnel
// gets exactly one record, from one of them.
func TestCloseUnclosedTunnelRace(t *testing.T) {
	ss := journalStores[1].open(t, 2)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	const n = 40
	var opens []store.Event
	for i := range n {
		opens = append(opens, tunnelEvent("OpenTunnel", fmt.Sprintf("tun-%02d", i), "", t0))
	}
	if err := ss[0].AppendEvents(ctx, opens); err != nil {
		t.Fatal(err)
	}
	var won [2]int
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for k, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				id := fmt.Sprintf("tun-%02d", i)
				e := tunnelEvent("CloseTunnel", id, "", t0.Add(time.Second))
				e.EventID = fmt.Sprintf("close-%s-by-%d", id, k) // distinct: only the journal decides
				ok, err := s.CloseUnclosedTunnel(ctx, id, e)
				if err != nil {
					errs <- err
					continue
				}
				if ok {
					won[k]++
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if won[0]+won[1] != n {
		t.Fatalf("closes won %d + %d, want %d in all", won[0], won[1], n)
	}
	evs, err := ss[0].ListEvents(ctx, store.EventQuery{EventName: "CloseTunnel", Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.TunnelID]++
	}
	for i := range n {
		if id := fmt.Sprintf("tun-%02d", i); seen[id] != 1 {
			t.Fatalf("%d CloseTunnel records of %s, want 1", seen[id], id)
		}
	}
	t.Logf("replica 0 closed %d, replica 1 %d", won[0], won[1])
}

// BenchmarkTunnelJournal is what the journal adds to a tunnel's two
// records (its OpenTunnel and its CloseTunnel, each committed alone, as
// the front door's are when tunnels do not overlap), with SQLite: the same
// two records under another name (not journalled) beside them, in
// alternating rounds of one process. cpu-us/tunnel is the process's CPU
// per tunnel.
func BenchmarkTunnelJournal(b *testing.B) {
	for _, c := range []struct {
		name       string
		open, shut string
	}{
		{"plain", "OpenTunnelX", "CloseTunnelX"},
		{"journalled", store.EventNameOpenTunnel, store.EventNameCloseTunnel},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := openTemp(b, defaultSQLiteOptions())
			i := 0
			cpu := processCPU()
			for b.Loop() {
				id := fmt.Sprintf("tnl-%016x", i)
				i++
				open, shut := benchRecord(true, i), benchRecord(true, i)
				open.EventName, open.TunnelID, open.ReadOnly = c.open, id, false
				shut.EventName, shut.TunnelID, shut.ReadOnly = c.shut, id, false
				if err := s.AppendEvent(ctx, open); err != nil {
					b.Fatal(err)
				}
				if err := s.AppendEvent(ctx, shut); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-us/tunnel")
		})
	}
}

// DeleteLiveTunnels keeps a vanished replica's row whose tunnel is still
// journalled as carried by it (its byte counts are the recovered
// record's); CloseUnclosedTunnel removes it with the journal row. Rows of
// tunnels not journalled, or journalled as another carrier's, go.
func TestDeleteLiveTunnelsKeepsJournalledRows(t *testing.T) {
	for _, b := range journalStores {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, 1)[0]
			ctx := context.Background()
			t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
			s.SetTunnelCarrier("r-gone")
			if err := s.AppendEvents(ctx, []store.Event{tunnelEvent("OpenTunnel", "tun-j", "", t0),
				tunnelEvent("OpenTunnel", "tun-moved", "", t0)}); err != nil {
				t.Fatal(err)
			}
			rows := []struct{ tunnel, replica string }{
				{"tun-j", "r-gone"},      // journalled, carried by r-gone: kept
				{"tun-old", "r-gone"},    // opened before the journal: goes
				{"tun-moved", "r-other"}, // journalled as r-gone's: goes
				{"tun-live", "r-live"},   // a live replica's: kept
			}
			for _, r := range rows {
				if _, err := s.SyncLiveTunnels(ctx, r.replica, []store.LiveTunnel{{TunnelID: r.tunnel, ReplicaID: r.replica,
					Started: t0, Deadline: t0.Add(time.Hour), BytesIn: 5, Updated: t0}}, nil); err != nil {
					t.Fatal(err)
				}
			}
			left := func() []string {
				lts, err := s.ListLiveTunnels(ctx)
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
			if n, err := s.DeleteLiveTunnels(ctx, []string{"r-live"}); err != nil || n != 2 {
				t.Fatalf("DeleteLiveTunnels: %d, %v; want 2", n, err)
			}
			if got, want := left(), []string{"tun-j", "tun-live"}; !slices.Equal(got, want) {
				t.Fatalf("rows left %q, want %q", got, want)
			}
			if ok, err := s.CloseUnclosedTunnel(ctx, "tun-j", tunnelEvent("CloseTunnel", "tun-j", "", t0.Add(time.Second))); !ok || err != nil {
				t.Fatalf("CloseUnclosedTunnel: %v, %v", ok, err)
			}
			if got, want := left(), []string{"tun-live"}; !slices.Equal(got, want) {
				t.Fatalf("rows left after the recovered close %q, want %q", got, want)
			}
		})
	}
}
