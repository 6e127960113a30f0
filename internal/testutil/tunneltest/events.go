package tunneltest

import (
	"context"
	"time"

	"github.com/postern/postern/internal/store"
)

// WaitEvents returns the stored audit events q selects (newest first)
// once done accepts them. It reads the store, then again at each commit
// of audit records (server.AuditCommitted: no polling, no sleep), and
// fails the test when timeout passes first, with what it last read.
func (e *Env) WaitEvents(q store.EventQuery, timeout time.Duration, done func([]store.Event) bool) []store.Event {
	e.T.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for { // bounded by the deadline: each round waits for a commit
		// The signal is taken before the read: a commit after the read
		// closes it.
		committed := e.Server.AuditCommitted()
		evs, err := e.Server.Store.ListEvents(context.Background(), q)
		if err != nil {
			e.T.Fatalf("tunneltest: list events: %v", err)
		}
		if done(evs) {
			return evs
		}
		select {
		case <-committed:
		case <-deadline.C:
			e.T.Fatalf("tunneltest: the audit events %+v were not there within %v; last read %d: %s", q, timeout, len(evs), summary(evs))
			return nil
		}
	}
}

// summary lists events by name and error code.
func summary(evs []store.Event) string {
	s := ""
	for i, ev := range evs {
		if i > 0 {
			s += ", "
		}
		s += ev.EventName
		if ev.ErrorCode != "" {
			s += "/" + ev.ErrorCode
		}
	}
	return s
}
