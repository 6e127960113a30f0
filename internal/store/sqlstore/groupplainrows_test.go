package sqlstore

import (
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// TestPlainGroupClosesLeftRows: a write of a plain group transaction
// (plainWriteTx, SQLite with one writer) that returns without closing
// the Rows of a query (an early return on an error path) must not keep
// the pool's one connection: its group commits or rolls back, and the
// next write runs. database/sql's transactions close such Rows at
// their end; the plain one must too.
func TestPlainGroupClosesLeftRows(t *testing.T) {
	for _, group := range []string{"durable", "unsynced"} {
		t.Run(group, func(t *testing.T) {
			s, _ := openTemp(t, defaultSQLiteOptions())
			g := &s.group
			if group == "unsynced" {
				g = &s.unsyncedGroup
			}
			if !g.h.plain {
				t.Fatal("the SQLite store's group does not run plain transactions")
			}
			ctx := t.Context()
			first, next := gcEvent("first-"+group), gcEvent("next-"+group)
			done := make(chan error, 1)
			go func() {
				err := s.groupWriteOn(g, ctx, func(q querier) error {
					if err := insertEvent(q, first); err != nil {
						return err
					}
					rows, err := q.QueryContext(ctx, "SELECT event_id FROM events")
					if err != nil {
						return err
					}
					_ = rows // left open
					return nil
				})
				if err == nil {
					err = s.groupWriteOn(g, ctx, func(q querier) error { return insertEvent(q, next) })
				}
				done <- err
			}()
			// A bound on a hang, not a timing assertion.
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("writes: %v", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("the write that left its Rows open never committed: the plain transaction holds the pool's one connection")
			}
			for _, id := range []string{first.EventID, next.EventID} {
				var got int
				if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE event_id = ?", id).Scan(&got); err != nil {
					t.Fatalf("count %s: %v", id, err)
				}
				if got != 1 {
					t.Errorf("event %s stored %d times, want 1", id, got)
				}
			}
		})
	}
}

// TestPlainGroupClosesLeftRowsInAGroup: the same in a group of several
// writes (savepoints): the write after the one that left its Rows open,
// and the group's commit, still run.
func TestPlainGroupClosesLeftRowsInAGroup(t *testing.T) {
	s, _ := openTemp(t, defaultSQLiteOptions())
	g := &s.group
	if !g.h.plain {
		t.Fatal("the SQLite store's group does not run plain transactions")
	}
	ctx := t.Context()
	queued := make(chan struct{}, 2)
	g.onQueue = func() { queued <- struct{}{} }
	var sizes []int
	g.onGroup = func(n int) { sizes = append(sizes, n) } // the leader's goroutine, one at a time
	evs := []store.Event{gcEvent("lead"), gcEvent("leaves-rows"), gcEvent("after")}
	release := make(chan struct{})
	done := make(chan error, len(evs))
	go func() { // the first group: holds the lead until the others queue
		done <- s.groupWriteOn(g, ctx, func(q querier) error {
			<-release
			return insertEvent(q, evs[0])
		})
	}()
	go func() {
		done <- s.groupWriteOn(g, ctx, func(q querier) error {
			if err := insertEvent(q, evs[1]); err != nil {
				return err
			}
			_, err := q.QueryContext(ctx, "SELECT event_id FROM events") // left open
			return err
		})
	}()
	<-queued
	go func() {
		done <- s.groupWriteOn(g, ctx, func(q querier) error { return insertEvent(q, evs[2]) })
	}()
	<-queued
	close(release)
	for range evs {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("write: %v", err)
			}
		case <-time.After(time.Minute): // a bound on a hang, not a timing assertion
			t.Fatal("a group with a write that left its Rows open never committed")
		}
	}
	// The write that leaves its Rows and the one after it share the last
	// group (with the first one too when it took them all).
	if len(sizes) == 0 || sizes[len(sizes)-1] < 2 {
		t.Errorf("group sizes %v: the last two writes did not share a group", sizes)
	}
	for _, e := range evs {
		var got int
		if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE event_id = ?", e.EventID).Scan(&got); err != nil {
			t.Fatalf("count %s: %v", e.EventID, err)
		}
		if got != 1 {
			t.Errorf("event %s stored %d times, want 1", e.EventID, got)
		}
	}
}
