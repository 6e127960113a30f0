package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// rowsRead is a real journal that counts the rows its reads return and
// the tunnel ids among them.
type rowsRead struct {
	journalStore
	rows  int
	reads map[string]int
}

func (r *rowsRead) UnclosedTunnelsAfter(ctx context.Context, keep []string, seenSince time.Time, after string, limit int) ([]store.UnclosedTunnel, error) {
	us, err := r.journalStore.UnclosedTunnelsAfter(ctx, keep, seenSince, after, limit)
	r.rows += len(us)
	for _, u := range us {
		r.reads[u.TunnelID]++
	}
	return us, err
}

// CloseUnclosedTunnels reads each journal row once per run, however many
// tunnels fail to close: more failing ones than a page holds, then some
// that close, on both stores. (Before paging by tunnel id, each page
// reread every failure so far: ~N²/512 rows for N failing tunnels.)
func TestCloseUnclosedTunnelsReadsEachRowOnce(t *testing.T) {
	for _, b := range journalBackends {
		for _, tc := range []struct {
			name        string
			n, nFailing int // tunnels, and how many of the first fail
		}{
			{"none failing", 3, 0},
			{"a page and more, all failing", 2*unclosedPage + 7, 2*unclosedPage + 7},
			{"more failing than two pages, then some", 2*unclosedPage + 40, 2*unclosedPage + 3},
			{"exactly a page", unclosedPage, 1},
		} {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := b.open(t)
				w := NewWriter(st, nil)
				opened := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Microsecond)
				var reqs []string
				var planted []store.Event
				for i := range tc.n {
					req := fmt.Sprintf("r%04d", i)
					reqs = append(reqs, req)
					if i < tc.nFailing { // its recovered close's id is taken: the close fails
						planted = append(planted, store.Event{EventID: UnclosedEventID("tun-" + req), EventTime: opened,
							EventSource: SourceInstanceConn, EventName: "Planted", Body: "{}"})
					}
				}
				if err := st.AppendEvents(ctx, planted); err != nil {
					t.Fatal(err)
				}
				openTunnels(t, w, st, "gone", opened, reqs...)
				st.SetTunnelCarrier("me")
				j := &rowsRead{journalStore: st, reads: map[string]int{}}
				n, err := w.CloseUnclosedTunnels(ctx, j, Unclosed{Keep: []string{"me"}, Reason: ReasonServerRestart})
				if want := tc.n - tc.nFailing; n != want {
					t.Fatalf("closed %d (%v), want %d", n, err, want)
				}
				if (err != nil) != (tc.nFailing > 0) {
					t.Fatalf("error %v with %d failing", err, tc.nFailing)
				}
				if j.rows != tc.n || len(j.reads) != tc.n {
					t.Fatalf("read %d rows of %d tunnels, want each of the %d once", j.rows, len(j.reads), tc.n)
				}
				if left := journalled(t, st); len(left) != tc.nFailing {
					t.Fatalf("%d tunnels left in the journal, want the %d failing ones", len(left), tc.nFailing)
				}
			})
		}
	}
}
