package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// recoveredClose is the CloseTunnel record recovery commits for a tunnel.
func recoveredClose(tunnelID string, at time.Time) store.Event {
	e := tunnelEvent("CloseTunnel", tunnelID, "", at)
	e.EventID = store.RecoveredCloseEventID(tunnelID)
	return e
}

// closeCount counts the CloseTunnel records of a tunnel.
func closeCount(t *testing.T, s *Store, tunnelID string) int {
	t.Helper()
	evs, err := s.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel", TunnelID: tunnelID, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// A tunnel whose close recovery recorded (its carrier taken for gone
// while it ran) gets no second CloseTunnel record from its carrier's real
// close, however that close is committed (alone, in a batch, in InTx):
// the call fails with store.ErrCloseRecovered and commits nothing. A
// tunnel with no journal row and no recovered close (opened before
// migration 0032) still gets its close, and a journalled tunnel its own.
func TestLateCloseAfterRecovery(t *testing.T) {
	for _, b := range journalStores {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, 1)[0]
			ctx := context.Background()
			t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
			for _, id := range []string{"tun-swept", "tun-live"} {
				if err := s.AppendEvent(ctx, tunnelEvent("OpenTunnel", id, "", t0)); err != nil {
					t.Fatal(err)
				}
			}
			if ok, err := s.CloseUnclosedTunnel(ctx, "tun-swept", recoveredClose("tun-swept", t0.Add(time.Second))); !ok || err != nil {
				t.Fatalf("recovery: %v, %v", ok, err)
			}
			late := tunnelEvent("CloseTunnel", "tun-swept", "", t0.Add(time.Minute))
			other := tunnelEvent("DescribeThings", "", "", t0.Add(time.Minute))
			for _, c := range []struct {
				name   string
				commit func() error
			}{
				{"alone", func() error { return s.AppendEvent(ctx, late) }},
				{"in a batch", func() error { return s.AppendEvents(ctx, []store.Event{other, late}) }},
				{"in InTx", func() error {
					return s.InTx(ctx, func(tx store.Repo) error { return tx.AppendEvent(ctx, late) })
				}},
			} {
				if err := c.commit(); !errors.Is(err, store.ErrCloseRecovered) {
					t.Fatalf("the late real close %s: %v, want store.ErrCloseRecovered", c.name, err)
				}
			}
			if n := closeCount(t, s, "tun-swept"); n != 1 {
				t.Fatalf("%d CloseTunnel records of the swept tunnel, want 1 (the recovered one)", n)
			}
			if evs, err := s.ListEvents(ctx, store.EventQuery{EventID: other.EventID}); err != nil || len(evs) != 0 {
				t.Fatalf("the batch of the refused close committed its other record: %d, %v", len(evs), err)
			}
			// Its own close for a journalled tunnel; a close for a tunnel
			// the journal never held (opened before migration 0032).
			for _, id := range []string{"tun-live", "tun-before-0032"} {
				if err := s.AppendEvent(ctx, tunnelEvent("CloseTunnel", id, "", t0.Add(time.Minute))); err != nil {
					t.Fatalf("close of %s: %v", id, err)
				}
				if n := closeCount(t, s, id); n != 1 {
					t.Fatalf("%d CloseTunnel records of %s, want 1", n, id)
				}
			}
			if got := unclosedIDs(t, s, nil, time.Time{}); len(got) != 0 {
				t.Fatalf("unclosed after the closes: %q", got)
			}
		})
	}
}

// A replica that sweeps another's tunnels (PostgreSQL) while that replica
// records their real closes: every tunnel has exactly one CloseTunnel
// record, the recovered one or the real one, and every real close that
// lost was told so (store.ErrCloseRecovered).
func TestLateCloseRacesRecovery(t *testing.T) {
	ss := journalStores[1].open(t, 2)
	carrier, sweeper := ss[0], ss[1]
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	const n = 40
	var opens []store.Event
	for i := range n {
		opens = append(opens, tunnelEvent("OpenTunnel", fmt.Sprintf("tun-%02d", i), "", t0))
	}
	if err := carrier.AppendEvents(ctx, opens); err != nil {
		t.Fatal(err)
	}
	var recovered, real, refused int
	// Each tunnel's two closes start together (a barrier per tunnel), so
	// that both orders, and PostgreSQL's conflicts, occur.
	for i := range n {
		id := fmt.Sprintf("tun-%02d", i)
		var wg sync.WaitGroup
		var recErr, realErr error
		var recOK bool
		begin := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-begin
			recOK, recErr = sweeper.CloseUnclosedTunnel(ctx, id, recoveredClose(id, t0.Add(time.Second)))
		}()
		go func() {
			defer wg.Done()
			<-begin
			realErr = carrier.AppendEvent(ctx, tunnelEvent("CloseTunnel", id, "", t0.Add(time.Minute)))
		}()
		close(begin)
		wg.Wait()
		if recErr != nil {
			t.Fatalf("recovery of %s: %v", id, recErr)
		}
		switch {
		case realErr == nil:
			real++
		case errors.Is(realErr, store.ErrCloseRecovered):
			refused++
		default:
			t.Fatalf("real close of %s: %v", id, realErr)
		}
		if recOK {
			recovered++
		}
	}
	if recovered+real != n || refused != recovered {
		t.Fatalf("%d recovered, %d real closes committed, %d refused; want %d in all and every recovered one refused", recovered, real, refused, n)
	}
	for i := range n {
		if id := fmt.Sprintf("tun-%02d", i); closeCount(t, carrier, id) != 1 {
			t.Fatalf("%d CloseTunnel records of %s, want 1", closeCount(t, carrier, id), id)
		}
	}
	t.Logf("recovered %d, closed by the carrier %d", recovered, real)
}

// BenchmarkCloseRecord is the cost of a tunnel's CloseTunnel record
// committed alone with SQLite, in a store already holding 20,000 records:
// "journalled" closes a tunnel the journal holds (open committed before
// the timer: the DELETE removes its row, no look-up); "no-row" closes a
// tunnel the journal does not hold (opened before migration 0032, or
// closed by recovery: the DELETE removes nothing, then one look-up of
// the recovered record's primary key); "plain" is the same record under
// a name the journal ignores (no journal statement). cpu-us/close is the
// process's CPU per close.
func BenchmarkCloseRecord(b *testing.B) {
	for _, c := range []string{"plain", "journalled", "no-row"} {
		b.Run(c, func(b *testing.B) {
			ctx := context.Background()
			s, _ := openTemp(b, defaultSQLiteOptions())
			var fill []store.Event
			for i := range 20_000 {
				fill = append(fill, benchRecord(true, i))
			}
			if err := s.AppendEvents(ctx, fill); err != nil {
				b.Fatal(err)
			}
			i := 0
			var cpu time.Duration
			for b.Loop() {
				id := fmt.Sprintf("tnl-%016x", i)
				i++
				shut := benchRecord(true, i)
				shut.EventName, shut.TunnelID, shut.ReadOnly = store.EventNameCloseTunnel, id, false
				switch c {
				case "plain":
					shut.EventName = "CloseTunnelX"
				case "journalled":
					b.StopTimer()
					open := benchRecord(true, i)
					open.EventName, open.TunnelID, open.ReadOnly = store.EventNameOpenTunnel, id, false
					if err := s.AppendEvent(ctx, open); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				before := processCPU()
				if err := s.AppendEvent(ctx, shut); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - before
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/close")
		})
	}
}

// BenchmarkRecoveredCloseLookup is the look-up a CloseTunnel record pays
// when its tunnel is not in the journal (lateClose), alone: each op is
// one look-up (the recovered record absent, as for a tunnel opened before
// migration 0032), 1,000 of them in each write transaction of a store
// already holding 20,000 records, so the commit's cost is spread thin.
func BenchmarkRecoveredCloseLookup(b *testing.B) {
	ctx := context.Background()
	s, _ := openTemp(b, defaultSQLiteOptions())
	var fill []store.Event
	for i := range 20_000 {
		fill = append(fill, benchRecord(true, i))
	}
	if err := s.AppendEvents(ctx, fill); err != nil {
		b.Fatal(err)
	}
	r := &s.repo
	i := 0
	cpu := processCPU()
	for b.Loop() {
		err := r.writeQuiet(ctx, func(q querier) error {
			for range 1000 {
				e := store.Event{TunnelID: fmt.Sprintf("tnl-%016x", i), EventTime: time.Now()}
				i++
				if err := r.lateClose(ctx, q, &e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(i), "cpu-ns/lookup")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/lookup")
}
