package sqlstore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// gatherEvents are n read-only records, each appended on its own.
func gatherEvents(prefix string, n int) []store.Event {
	evs := make([]store.Event, n)
	for i := range evs {
		evs[i] = store.Event{EventID: fmt.Sprintf("%s-%02d", prefix, i), EventTime: time.UnixMicro(1_780_000_000_000_000 + int64(i)),
			EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity", ReadOnly: true, RequestID: fmt.Sprintf("req-%d", i)}
	}
	return evs
}

// The committer, woken by a record, waits for company: records appended
// one at a time are committed together, a full batch (maxRowsUnsynced)
// at once without waiting out recordGatherWait. Before the wait, the
// committer woke for the first record and committed it alone.
func TestRecordJournalGathersRecords(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	commits := make(chan int, 2*maxRowsUnsynced)
	s.journal.gatherWait = time.Hour // only a full batch ends the wait
	s.journal.onCommit = func(n int) { commits <- n }
	evs := gatherEvents("gather", maxRowsUnsynced)
	for i := range evs {
		if err := s.AppendEventsUnsynced(ctx, evs[i:i+1]); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	select {
	case n := <-commits:
		if n != maxRowsUnsynced {
			t.Errorf("the first commit held %d records, want %d (all, appended one at a time)", n, maxRowsUnsynced)
		}
	case <-time.After(30 * time.Second): // a guard against a hang, not a measurement
		t.Fatal("no commit of a full batch")
	}
	got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Errorf("%d records listed, want %d", len(got), len(evs))
	}
}

// A reader of the events (ListEvents, LastEventTime) and Close do not
// wait for the committer's company: while it waits (here: for an hour),
// the one record journalled is listed, is the last event, and is
// committed by Close.
func TestRecordJournalReaderEndsTheGather(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(ctx context.Context, s *Store, ev store.Event) error
	}{
		{"ListEvents", func(ctx context.Context, s *Store, ev store.Event) error {
			got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
			if err != nil {
				return err
			}
			if len(got) != 1 || got[0].EventID != ev.EventID {
				return fmt.Errorf("listed %+v, want the record %s", got, ev.EventID)
			}
			return nil
		}},
		{"LastEventTime", func(ctx context.Context, s *Store, ev store.Event) error {
			last, err := s.LastEventTime(ctx, ev.EventTime.Add(time.Second))
			if err != nil {
				return err
			}
			if !last.Equal(ev.EventTime) {
				return fmt.Errorf("last event at %v, want %v", last, ev.EventTime)
			}
			return nil
		}},
		{"Close", func(ctx context.Context, s *Store, ev store.Event) error {
			if err := s.Close(); err != nil {
				return err
			}
			fi, err := os.Stat(s.journal.f.Name())
			if err != nil || fi.Size() != 0 {
				return fmt.Errorf("after Close, the journal: %v, %v; want it empty", fi, err)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTemp(t, defaultSQLiteOptions())
			s.journal.gatherWait = time.Hour
			ev := gatherEvents("reader", 1)[0]
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a guard against a hang, not a measurement
			defer cancel()
			if err := s.AppendEventsUnsynced(ctx, []store.Event{ev}); err != nil {
				t.Fatal(err)
			}
			if err := tc.read(ctx, s, ev); err != nil {
				t.Fatal(err)
			}
			if tc.name != "Close" {
				return
			}
			// Committed, not left for the next open: the database alone
			// holds it.
			s2, err := openSQLite(t.Context(), path, testLogger(t), directOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			got, err := s2.ListEvents(ctx, store.EventQuery{Limit: -1})
			if err != nil || len(got) != 1 {
				t.Errorf("after Close and a reopen without the journal: %+v, %v; want the record", got, err)
			}
		})
	}
}
