package sqlstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/storetest"
)

// AppendEventsUnsynced calls that queue while the unsynced connection
// commits share its next commit (the unsynced group, groupcommit.go), each
// call all or nothing: two callers' closes and a read-only record commit
// together, their tunnels leave the journal, and a late close (its tunnel
// closed by recovery) queued with them is refused alone, storing nothing
// of its call, while the others commit.
func TestUnsyncedClosesShareAGroup(t *testing.T) {
	s, _ := openTemp(t, defaultSQLiteOptions())
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	for _, id := range []string{"tun-a", "tun-b", "tun-c", "tun-swept"} {
		if err := s.AppendEvent(ctx, tunnelEvent("OpenTunnel", id, "", t0)); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.CloseUnclosedTunnel(ctx, "tun-swept", recoveredClose("tun-swept", t0.Add(time.Second))); !ok || err != nil {
		t.Fatalf("recovery: %v, %v", ok, err)
	}
	g := &s.unsyncedGroup
	queued := make(chan struct{}, 8)
	var mu sync.Mutex
	var sizes []int
	g.onQueue = func() { queued <- struct{}{} }
	g.onGroup = func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }

	// A write that holds the unsynced group's lead until the calls queued.
	started, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- s.groupWriteOn(g, ctx, func(querier) error { close(started); <-release; return nil })
	}()
	<-started
	readOnly := tunnelEvent("DescribeThings", "", "", t0.Add(2*time.Second))
	readOnly.ReadOnly = true
	calls := [][]store.Event{
		{tunnelEvent("CloseTunnel", "tun-a", "", t0.Add(2*time.Second)), readOnly},
		{tunnelEvent("CloseTunnel", "tun-b", "", t0.Add(2*time.Second))},
		{tunnelEvent("CloseTunnel", "tun-c", "", t0.Add(2*time.Second)), tunnelEvent("CloseTunnel", "tun-swept", "", t0.Add(2*time.Second))},
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, evs := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.AppendEventsUnsynced(ctx, evs) }()
	}
	for range calls {
		select {
		case <-queued:
		case <-time.After(time.Minute): // a guard against a hang, not a measurement
			close(release)
			t.Fatal("the unsynced calls did not queue in the unsynced group")
		}
	}
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatalf("the holding write: %v", err)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("closes: %v, %v", errs[0], errs[1])
	}
	var late *store.CloseRecoveredError
	if !errors.As(errs[2], &late) || late.TunnelID != "tun-swept" {
		t.Fatalf("the call with a late close = %v, want a store.CloseRecoveredError of tun-swept", errs[2])
	}
	mu.Lock()
	got := append([]int(nil), sizes...)
	mu.Unlock()
	if len(got) != 2 || got[1] != len(calls) {
		t.Fatalf("unsynced group sizes %v, want [1 %d]: the three calls in one commit", got, len(calls))
	}
	for _, id := range []string{"tun-a", "tun-b"} {
		if n := closeCount(t, s, id); n != 1 {
			t.Errorf("%d CloseTunnel records of %s, want 1", n, id)
		}
	}
	if n := closeCount(t, s, "tun-c"); n != 0 {
		t.Errorf("%d CloseTunnel records of tun-c, whose call was refused, want 0", n)
	}
	if n := closeCount(t, s, "tun-swept"); n != 1 {
		t.Errorf("%d CloseTunnel records of tun-swept, want recovery's alone", n)
	}
	if evs, err := s.ListEvents(ctx, store.EventQuery{EventID: readOnly.EventID}); err != nil || len(evs) != 1 {
		t.Errorf("the read-only record: %d stored, %v", len(evs), err)
	}
	open, err := storetest.UnclosedTunnels(ctx, s, nil, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].TunnelID != "tun-c" {
		t.Fatalf("journal after the group: %+v, want tun-c alone (its close was refused)", open)
	}
}

// BenchmarkSequentialTunnelStore is the store's share of tunnels opened
// and closed one at a time, as the server commits them: the replay
// guard's write (RecordPresignUseUnsynced), the OpenTunnel record
// (AppendEvents, durable) and the CloseTunnel record
// (AppendEventsUnsynced, with its journal row), in a store already
// holding 20,000 records. cpu-us/tunnel is the process's CPU per tunnel,
// close-cpu-us the CloseTunnel commit's share; rchar-B/tunnel the bytes
// SQLite read per tunnel (pages re-read after the other write
// connection's commits).
func BenchmarkSequentialTunnelStore(b *testing.B) {
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
	var closing time.Duration
	cpu, rchar := processCPU(), procRchar(b)
	for b.Loop() {
		i++
		id := fmt.Sprintf("tnl-%016x", i)
		sig := sha256.Sum256([]byte(id))
		now := time.Now()
		if _, first, err := s.RecordPresignUseUnsynced(ctx, store.PresignUse{SignatureHash: sig[:],
			SourceIP: "127.0.0.1", FirstUsedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil || !first {
			b.Fatalf("RecordPresignUseUnsynced: first %v, %v", first, err)
		}
		open := benchRecord(true, i)
		open.EventName, open.TunnelID, open.ReadOnly = store.EventNameOpenTunnel, id, false
		if err := s.AppendEvents(ctx, []store.Event{open}); err != nil {
			b.Fatal(err)
		}
		shut := benchRecord(true, i)
		shut.EventName, shut.TunnelID, shut.ReadOnly = store.EventNameCloseTunnel, id, false
		before := processCPU()
		if err := s.AppendEventsUnsynced(ctx, []store.Event{shut}); err != nil {
			b.Fatal(err)
		}
		closing += processCPU() - before
	}
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-us/tunnel")
	b.ReportMetric(float64(closing.Microseconds())/float64(b.N), "close-cpu-us")
	b.ReportMetric(float64(procRchar(b)-rchar)/float64(b.N), "rchar-B/tunnel")
}

// BenchmarkUnsyncedBurstStore is the unsynced connection's share of a
// burst of tunnels: in each op, 16 callers' replay guard writes
// (RecordPresignUseUnsynced, concurrent) and, beside them, the audit
// writer's batch of the previous 16 tunnels' CloseTunnel records
// (AppendEventsUnsynced), their OpenTunnel records committed before the
// op's timer. cpu-us/tunnel is the process's CPU per tunnel (guard and
// close) while the timer runs.
func BenchmarkUnsyncedBurstStore(b *testing.B) {
	const burst = 16
	ctx := context.Background()
	s, _ := openTemp(b, defaultSQLiteOptions())
	var fill []store.Event
	for i := range 20_000 {
		fill = append(fill, benchRecord(true, i))
	}
	if err := s.AppendEvents(ctx, fill); err != nil {
		b.Fatal(err)
	}
	n := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		opens, closes := make([]store.Event, burst), make([]store.Event, burst)
		for j := range burst {
			n++
			id := fmt.Sprintf("tnl-%016x", n)
			opens[j], closes[j] = benchRecord(true, n), benchRecord(true, n)
			opens[j].EventName, opens[j].TunnelID, opens[j].ReadOnly = store.EventNameOpenTunnel, id, false
			closes[j].EventName, closes[j].TunnelID, closes[j].ReadOnly = store.EventNameCloseTunnel, id, false
		}
		if err := s.AppendEvents(ctx, opens); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		before := processCPU()
		var wg sync.WaitGroup
		errs := make([]error, burst+1)
		for j := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sig := sha256.Sum256([]byte("guard-" + closes[j].TunnelID))
				now := time.Now()
				_, _, errs[j] = s.RecordPresignUseUnsynced(ctx, store.PresignUse{SignatureHash: sig[:],
					SourceIP: "127.0.0.1", FirstUsedAt: now, ExpiresAt: now.Add(time.Minute)})
			}()
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[burst] = s.AppendEventsUnsynced(ctx, closes) }()
		wg.Wait()
		cpu += processCPU() - before
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*burst), "cpu-us/tunnel")
}
