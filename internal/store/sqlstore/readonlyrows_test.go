package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
)

// A batch of read-only records (the audit writer's group commit in a busy
// period) is stored as one INSERT statement of a row each, committing by
// itself, up to maxRowsUnsynced; beyond, in a transaction. Either way
// every record lands, readable at once, and a batch that cannot be stored
// whole (a repeated event id) stores nothing of it.
func TestAppendRowsUnsynced(t *testing.T) {
	ctx := context.Background()
	batch := func(prefix string, n int) []store.Event {
		evs := make([]store.Event, n)
		for i := range evs {
			evs[i] = oneEvent(i)
			evs[i].EventID = fmt.Sprintf("%s-%03d", prefix, i)
		}
		return evs
	}
	// rowsInsert is the statement of n rows (the test's own spelling).
	rowsInsert := func(n int) string {
		row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		return "INSERT INTO events (" + eventCols + ") VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	}
	for _, tc := range []struct {
		name         string
		n            int
		dupOf        int  // a record of the batch repeats the id of record dupOf (-1: none)
		dupStored    bool // the repeated id is one stored before (else: within the batch)
		oneStatement bool // stored as one statement of n rows
	}{
		{"two", 2, -1, false, true},
		{"eight", 8, -1, false, true},
		{"the most in one statement", maxRowsUnsynced, -1, false, true},
		{"more: a transaction", maxRowsUnsynced + 1, -1, false, false},
		{"a repeated id within the batch", 8, 3, false, true},
		{"an id stored before", 8, 5, true, true},
		{"an id stored before, in a transaction", maxRowsUnsynced + 3, 5, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTemp(t, directOptions()) // the caller's own commit, as without the record journal
			evs := batch("b", tc.n)
			if tc.dupOf >= 0 {
				if tc.dupStored {
					if err := s.AppendEventsUnsynced(ctx, []store.Event{evs[tc.dupOf]}); err != nil {
						t.Fatal(err)
					}
				} else {
					evs[len(evs)-1].EventID = evs[tc.dupOf].EventID
				}
			}
			err := s.AppendEventsUnsynced(ctx, evs)
			got, lerr := s.ListEvents(ctx, store.EventQuery{Limit: -1})
			if lerr != nil {
				t.Fatal(lerr)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.EventID)
			}
			slices.Sort(ids)
			if tc.dupOf >= 0 {
				if !errors.Is(err, store.ErrConflict) {
					t.Fatalf("a batch with a repeated id: %v, want store.ErrConflict", err)
				}
				want := []string(nil)
				if tc.dupStored {
					want = []string{evs[tc.dupOf].EventID}
				}
				if !slices.Equal(ids, want) {
					t.Fatalf("stored %v, want %v: a failed batch stored part of itself", ids, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range evs {
				want = append(want, e.EventID)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("stored %v, want %v", ids, want)
			}
			for _, e := range got {
				if e.Body != oneEvent(0).Body && !strings.Contains(e.Body, `"pad":"`) || !e.ReadOnly || e.Username != "alice" {
					t.Fatalf("stored %+v", e)
				}
			}
			s.unsynced.writes.mu.RLock()
			_, prepared := s.unsynced.writes.m[rowsInsert(tc.n)]
			s.unsynced.writes.mu.RUnlock()
			if prepared != tc.oneStatement {
				t.Fatalf("the insert of %d rows was prepared: %v, want %v", tc.n, prepared, tc.oneStatement)
			}
		})
	}
}
