package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// AppendEventsUnsynced leaves the journal alone and does not wait for the
// disk, so it refuses a tunnel's OpenTunnel or CloseTunnel record
// (errors.ErrUnsupported, the caller's cue to use AppendEvents) and stores
// nothing of the call, whatever the record's ReadOnly says: an open
// stored so would be missing from the journal (never closed by recovery),
// a late close would be a second CloseTunnel record.
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
	}{
		{"an open alone", []store.Event{readOnly(tunnelEvent("OpenTunnel", "tun-new", "", t0))}},
		{"an open in a batch", []store.Event{other, readOnly(tunnelEvent("OpenTunnel", "tun-new2", "", t0))}},
		{"a late close", []store.Event{readOnly(tunnelEvent("CloseTunnel", "tun-swept", "", t0.Add(time.Minute)))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.AppendEventsUnsynced(ctx, tc.evs); !errors.Is(err, errors.ErrUnsupported) {
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
