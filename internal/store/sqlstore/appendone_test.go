package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// oneEvent is a read-only record of a realistic size (~1 KB).
func oneEvent(i int) store.Event {
	id := fmt.Sprintf("ev-one-%06d", i)
	return store.Event{EventID: id, EventTime: time.Now(), EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity",
		ReadOnly: true, Username: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		Body: `{"eventID":"` + id + `","pad":"` + strings.Repeat("x", 900) + `"}`}
}

// A lone read-only record commits as one statement (appendOneUnsynced):
// the cases an explicit transaction handled still behave the same.
func TestAppendOneUnsynced(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s *Store, path string)
	}{
		{"stored and readable at once", func(t *testing.T, s *Store, _ string) {
			ev := oneEvent(1)
			if err := s.AppendEventsUnsynced(ctx, []store.Event{ev}); err != nil {
				t.Fatal(err)
			}
			got, err := s.ListEvents(ctx, store.EventQuery{EventID: ev.EventID, Limit: -1})
			if err != nil || len(got) != 1 || got[0].Body != ev.Body || !got[0].ReadOnly || got[0].Username != "alice" {
				t.Fatalf("ListEvents: %+v, %v", got, err)
			}
		}},
		{"a repeated event id is a conflict and changes nothing", func(t *testing.T, s *Store, _ string) {
			ev := oneEvent(2)
			if err := s.AppendEventsUnsynced(ctx, []store.Event{ev}); err != nil {
				t.Fatal(err)
			}
			again := ev
			again.Body = `{"other":true}`
			err := s.AppendEventsUnsynced(ctx, []store.Event{again})
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a second record with the same id: %v, want store.ErrConflict", err)
			}
			got, err := s.ListEvents(ctx, store.EventQuery{EventID: ev.EventID, Limit: -1})
			if err != nil || len(got) != 1 || got[0].Body != ev.Body {
				t.Fatalf("ListEvents: %+v, %v", got, err)
			}
		}},
		{"an ended context stores nothing", func(t *testing.T, s *Store, _ string) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			ev := oneEvent(3)
			if err := s.AppendEventsUnsynced(cctx, []store.Event{ev}); !errors.Is(err, context.Canceled) {
				t.Fatalf("append with an ended context: %v, want context.Canceled", err)
			}
			got, err := s.ListEvents(ctx, store.EventQuery{EventID: ev.EventID, Limit: -1})
			if err != nil || len(got) != 0 {
				t.Fatalf("ListEvents: %+v, %v", got, err)
			}
		}},
		{"another connection's write transaction is waited for", func(t *testing.T, s *Store, path string) {
			other, err := sql.Open("sqlite", sqliteDSN(path, map[string][]string{"_txlock": {"immediate"}, "_busy_timeout": {"10000"}}))
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			tx, err := other.BeginTx(ctx, nil) // holds the database's write lock
			if err != nil {
				t.Fatal(err)
			}
			held := oneEvent(4)
			if _, err := tx.ExecContext(ctx, "INSERT INTO events ("+eventCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				held.EventID, held.EventTime.UnixMicro(), held.EventSource, held.EventName, 1, "", "", "", "", "", "", "", held.Body); err != nil {
				t.Fatal(err)
			}
			ev := oneEvent(5)
			done := make(chan error, 1)
			go func() { done <- s.AppendEventsUnsynced(ctx, []store.Event{ev}) }()
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("append while another connection wrote: %v", err)
			}
			got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
			if err != nil || len(got) != 2 {
				t.Fatalf("ListEvents: %d events, %v; want 2", len(got), err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, path := openTemp(t, directOptions()) // the caller's own commit, as without the record journal
			c.run(t, s, path)
		})
	}
}
