package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// readFailsFrom is a real journal whose reads fail from the n-th on (a
// store lost mid-recovery).
type readFailsFrom struct {
	journalStore
	n, calls int
	err      error
}

func (r *readFailsFrom) UnclosedTunnelsAfter(ctx context.Context, keep []string, seenSince time.Time, after string, limit int) ([]store.UnclosedTunnel, error) {
	if r.calls++; r.calls >= r.n {
		return nil, r.err
	}
	return r.journalStore.UnclosedTunnelsAfter(ctx, keep, seenSince, after, limit)
}

// An error reading the journal that ends CloseUnclosedTunnels is returned
// even when more tunnels than maxUnclosedErrors failed before it: the
// caller learns that the recovery stopped, not only that some closes
// failed.
func TestCloseUnclosedTunnelsReportsAJournalReadFailure(t *testing.T) {
	ctx := context.Background()
	st := journalBackends[0].open(t)
	w := NewWriter(st, nil)
	opened := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Microsecond)
	failing := maxUnclosedErrors + 1
	var reqs []string
	var planted []store.Event
	for i := range unclosedPage + 1 {
		req := fmt.Sprintf("r%03d", i)
		reqs = append(reqs, req)
		if i < failing {
			planted = append(planted, store.Event{EventID: UnclosedEventID("tun-" + req), EventTime: opened,
				EventSource: SourceInstanceConn, EventName: "Planted", Body: "{}"})
		}
	}
	if err := st.AppendEvents(ctx, planted); err != nil {
		t.Fatal(err)
	}
	openTunnels(t, w, st, "gone", opened, reqs...)
	st.SetTunnelCarrier("me")
	errLost := errors.New("store lost")
	j := &readFailsFrom{journalStore: st, n: 2, err: errLost}
	n, err := w.CloseUnclosedTunnels(ctx, j, Unclosed{Keep: []string{"me"}, Reason: ReasonServerRestart})
	if want := unclosedPage - failing; n != want {
		t.Fatalf("closed %d (%v), want %d", n, err, want)
	}
	if !errors.Is(err, errLost) {
		t.Fatalf("error %v, want the journal's read failure %v too", err, errLost)
	}
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "1 more tunnels not closed") {
		t.Fatalf("error %v, want the closes that failed (store.ErrConflict) and the count beyond the first %d", err, maxUnclosedErrors)
	}
}
