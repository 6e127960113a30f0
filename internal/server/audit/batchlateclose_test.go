package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// txCounting is a real store that counts the transactions the Batcher
// asks of it: each AppendEvents, AppendEvent (outside InTx) and InTx.
type txCounting struct {
	journalStore
	txs int
}

func (c *txCounting) AppendEvents(ctx context.Context, evs []store.Event) error {
	c.txs++
	return c.journalStore.AppendEvents(ctx, evs)
}

func (c *txCounting) AppendEvent(ctx context.Context, e store.Event) error {
	c.txs++
	return c.journalStore.AppendEvent(ctx, e)
}

func (c *txCounting) InTx(ctx context.Context, fn func(tx store.Repo) error) error {
	c.txs++
	return c.journalStore.InTx(ctx, fn)
}

// eventsCounting is the same without transactions (no InTx): a store
// the Batcher cannot ask for savepoints.
type eventsCounting struct {
	store.Events
	txs *int
}

func (c eventsCounting) AppendEvents(ctx context.Context, evs []store.Event) error {
	*c.txs++
	return c.Events.AppendEvents(ctx, evs)
}

func (c eventsCounting) AppendEvent(ctx context.Context, e store.Event) error {
	*c.txs++
	return c.Events.AppendEvent(ctx, e)
}

// A batch holding late real closes of tunnels whose close recovery
// recorded (store.ErrCloseRecovered) commits its other records as one
// group again, not one transaction each: one refused close costs one more
// transaction, many cost two. Each late close's caller gets the
// store's refusal naming its record (store.CloseRecoveredError), none of
// them is stored, and every other record is stored once.
func TestBatchDropsRefusedLateCloses(t *testing.T) {
	for _, b := range journalBackends {
		for _, tc := range []struct {
			name         string
			opens, lates int
			realClose    bool // a close of a tunnel still in the journal too
			noTx         bool // the store has no InTx: the rest alone
			maxTxs       int
		}{
			{"one late close alone", 0, 1, false, false, 1},
			{"opens and one late close", 250, 1, true, false, 2},
			{"opens and many late closes", 250, 250, true, false, 3},
			{"two late closes and a real one", 0, 2, true, false, 3},
			{"late closes alone", 0, 5, false, false, 3},
			{"opens and one late close, no transactions", 250, 1, true, true, 2},
			{"two late closes and a real one, no transactions", 0, 2, true, true, 3},
			{"opens and many late closes, no transactions", 250, 250, true, true, 2 + 499},
		} {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := b.open(t)
				c := &txCounting{journalStore: st}
				w := NewWriter(c, nil)
				if tc.noTx {
					w = NewWriter(eventsCounting{Events: st, txs: &c.txs}, nil)
				}
				opened := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Microsecond)
				var lateReqs []string
				for i := range tc.lates {
					lateReqs = append(lateReqs, fmt.Sprintf("late%03d", i))
				}
				if len(lateReqs) > 0 {
					openTunnels(t, w, st, "cut-off", opened, lateReqs...)
					// Another replica takes "cut-off" for gone.
					if n, err := w.CloseUnclosedTunnels(ctx, st, Unclosed{Keep: []string{"other"}, Reason: ReasonReplicaGone}); n != tc.lates || err != nil {
						t.Fatalf("recovery: %d, %v", n, err)
					}
				}
				if tc.realClose {
					openTunnels(t, w, st, "other", opened, "live")
				}
				closeEv := func(tunnelID string) store.Event {
					e, err := Event(CloseTunnel(meta(role(), ""), CloseDetails{TunnelID: tunnelID, Reason: "Normal", BytesIn: 7},
						eiceARN), tunnelID, params.InstanceConnectEndpointID)
					if err != nil {
						t.Fatal(err)
					}
					return e
				}
				// The batch: opens and late closes interleaved, the real
				// close in the middle.
				var evs []store.Event
				late := map[string]bool{} // event ids
				for i := range max(tc.opens, tc.lates) {
					if i < tc.opens {
						e, err := Event(openRec("", fmt.Sprintf("new%03d", i), opened.Add(time.Minute)), fmt.Sprintf("tun-new%03d", i),
							params.InstanceConnectEndpointID)
						if err != nil {
							t.Fatal(err)
						}
						evs = append(evs, e)
					}
					if i < tc.lates {
						e := closeEv("tun-" + lateReqs[i])
						late[e.EventID] = true
						evs = append(evs, e)
					}
					if tc.realClose && i == max(tc.opens, tc.lates)/2 {
						evs = append(evs, closeEv("tun-live"))
					}
				}
				batch := make([]*pending, len(evs))
				for i, e := range evs {
					batch[i] = &pending{ev: e, done: make(chan error, 1)}
				}
				c.txs = 0
				w.b.commit(batch)
				if c.txs > tc.maxTxs {
					t.Fatalf("%d records with %d late closes took %d store transactions, want at most %d", len(evs), tc.lates, c.txs, tc.maxTxs)
				}
				for _, p := range batch {
					err := <-p.done
					if !late[p.ev.EventID] {
						if err != nil {
							t.Fatalf("%s of %s: %v, want it committed", p.ev.EventName, p.ev.TunnelID, err)
						}
						continue
					}
					var refused *store.CloseRecoveredError
					if !errors.As(err, &refused) || !errors.Is(err, store.ErrCloseRecovered) || refused.EventID != p.ev.EventID || refused.TunnelID != p.ev.TunnelID {
						t.Fatalf("late close of %s (%s): %v, want the store's refusal of that record", p.ev.TunnelID, p.ev.EventID, err)
					}
				}
				// Every record once, but the late closes: each tunnel
				// of theirs has the recovered close alone.
				all, err := st.ListEvents(ctx, store.EventQuery{Limit: -1})
				if err != nil {
					t.Fatal(err)
				}
				stored := map[string]int{}
				for _, e := range all {
					stored[e.EventID]++
				}
				for _, e := range evs {
					if want := map[bool]int{true: 0, false: 1}[late[e.EventID]]; stored[e.EventID] != want {
						t.Fatalf("%s of %s (%s) stored %d times, want %d", e.EventName, e.TunnelID, e.EventID, stored[e.EventID], want)
					}
				}
				for _, req := range lateReqs {
					closes, err := st.ListEvents(ctx, store.EventQuery{EventName: EventCloseTunnel, TunnelID: "tun-" + req, Limit: -1})
					if err != nil {
						t.Fatal(err)
					}
					if len(closes) != 1 || closes[0].EventID != UnclosedEventID("tun-"+req) {
						t.Fatalf("CloseTunnel records of tun-%s: %d, want the recovered one alone", req, len(closes))
					}
				}
				var want []string
				for i := range tc.opens {
					want = append(want, fmt.Sprintf("tun-new%03d", i))
				}
				if got := journalled(t, st); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Fatalf("journal %d %q, want the %d new tunnels", len(got), got, len(want))
				}
			})
		}
	}
}
