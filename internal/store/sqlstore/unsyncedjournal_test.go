package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/storetest"
)

// AppendEventsUnsynced does not wait for the disk, so it refuses a
// tunnel's OpenTunnel record (errors.ErrUnsupported, the caller's cue to
// use AppendEvents: an open must be on the disk before its tunnel's first
// byte) and stores nothing of the call, whatever the record's ReadOnly
// says; a late close (its tunnel closed by recovery) is refused as
// AppendEvents refuses it (store.CloseRecoveredError), storing nothing: it
// would be a second CloseTunnel record.
func TestUnsyncedRefusesJournalledRecords(t *testing.T) {
	s, _ := openTemp(t, defaultSQLiteOptions())
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	if err := s.AppendEvent(ctx, tunnelEvent("OpenTunnel", "tun-swept", "", t0)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CloseUnclosedTunnel(ctx, "tun-swept", recoveredClose("tun-swept", t0.Add(time.Second))); !ok || err != nil {
		t.Fatalf("recovery: %v, %v", ok, err)
	}
	readOnly := func(e store.Event) store.Event { e.ReadOnly = true; return e }
	other := readOnly(tunnelEvent("DescribeThings", "", "", t0.Add(time.Minute)))
	for _, tc := range []struct {
		name string
		evs  []store.Event
		late bool
	}{
		{"an open alone", []store.Event{readOnly(tunnelEvent("OpenTunnel", "tun-new", "", t0))}, false},
		{"an open in a batch", []store.Event{other, readOnly(tunnelEvent("OpenTunnel", "tun-new2", "", t0))}, false},
		{"a late close", []store.Event{readOnly(tunnelEvent("CloseTunnel", "tun-swept", "", t0.Add(time.Minute)))}, true},
		{"a late close in a batch", []store.Event{other, tunnelEvent("CloseTunnel", "tun-swept", "", t0.Add(2*time.Minute))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.AppendEventsUnsynced(ctx, tc.evs)
			var late *store.CloseRecoveredError
			switch {
			case tc.late && !errors.As(err, &late):
				t.Fatalf("AppendEventsUnsynced = %v, want a store.CloseRecoveredError", err)
			case !tc.late && !errors.Is(err, errors.ErrUnsupported):
				t.Fatalf("AppendEventsUnsynced = %v, want errors.ErrUnsupported", err)
			}
			for _, e := range tc.evs {
				if evs, err := s.ListEvents(ctx, store.EventQuery{EventID: e.EventID}); err != nil || len(evs) != 0 {
					t.Fatalf("record %s stored by the refused call: %d, %v", e.EventID, len(evs), err)
				}
			}
		})
	}
	if n := closeCount(t, s, "tun-swept"); n != 1 {
		t.Fatalf("%d CloseTunnel records of the swept tunnel, want 1", n)
	}
	// Other read-only records still take the unsynced path.
	if err := s.AppendEventsUnsynced(ctx, []store.Event{other}); err != nil {
		t.Fatal(err)
	}
}

// A tunnel's CloseTunnel commits without waiting for the disk, and its
// journal row goes in the same commit: the tunnel is no longer in the
// journal, and the close is the unsynced connection's commit.
func TestUnsyncedClosesTheJournalRow(t *testing.T) {
	s, _ := openTemp(t, defaultSQLiteOptions())
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	for _, id := range []string{"tun-a", "tun-b"} {
		if err := s.AppendEvent(ctx, tunnelEvent("OpenTunnel", id, "", t0)); err != nil {
			t.Fatal(err)
		}
	}
	other := tunnelEvent("DescribeThings", "", "", t0.Add(time.Second))
	other.ReadOnly = true
	before := s.unsynced.commits.Load()
	if err := s.AppendEventsUnsynced(ctx, []store.Event{tunnelEvent("CloseTunnel", "tun-a", "", t0.Add(time.Second)), other}); err != nil {
		t.Fatal(err)
	}
	if after := s.unsynced.commits.Load(); after == before {
		t.Fatal("the close was not an unsynced commit")
	}
	if n := closeCount(t, s, "tun-a"); n != 1 {
		t.Fatalf("%d CloseTunnel records of tun-a, want 1", n)
	}
	got, err := storetest.UnclosedTunnels(ctx, s, nil, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].TunnelID != "tun-b" {
		t.Fatalf("journal after tun-a's unsynced close: %+v, want tun-b alone", got)
	}
}
