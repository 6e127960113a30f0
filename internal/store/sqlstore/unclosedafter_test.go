package sqlstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// UnclosedTunnelsAfter pages through the journal in tunnel id order
// (whatever the opening order), from after the id given, keeping the
// carriers' filter: the pages together are the journal once.
func TestUnclosedTunnelsAfterPages(t *testing.T) {
	for _, b := range journalStores {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, 1)[0]
			ctx := context.Background()
			t0 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
			// Opened in the reverse of their ids' order; tun-k* by a
			// carrier kept.
			ids := []string{"tun-e", "tun-d", "tun-k2", "tun-c", "tun-b", "tun-k1", "tun-a"}
			for i, id := range ids {
				s.SetTunnelCarrier(map[bool]string{true: "kept", false: "gone"}[id[4] == 'k'])
				if err := s.AppendEvent(ctx, tunnelEvent("OpenTunnel", id, "", t0.Add(time.Duration(i)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"tun-a", "tun-b", "tun-c", "tun-d", "tun-e"}
			for _, tc := range []struct {
				name  string
				after string
				limit int
				want  []string
			}{
				{"from the start, all", "", 0, want},
				{"from the start, a page", "", 2, want[:2]},
				{"after a page", "tun-b", 2, want[2:4]},
				{"the last page, short", "tun-d", 2, want[4:]},
				{"after the last", "tun-e", 2, nil},
				{"after an id not in the journal", "tun-bb", 0, want[2:]},
			} {
				us, err := s.UnclosedTunnelsAfter(ctx, []string{"kept"}, time.Time{}, tc.after, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, u := range us {
					got = append(got, u.TunnelID)
					if u.Carrier != "gone" || u.Open.TunnelID != u.TunnelID || u.Open.EventName != "OpenTunnel" {
						t.Fatalf("%s: row %+v", tc.name, u)
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("%s: %q, want %q", tc.name, got, tc.want)
				}
			}
			// storetest.UnclosedTunnels lists them oldest first.
			if got := unclosedIDs(t, s, []string{"kept"}, time.Time{}); !slices.Equal(got, []string{"tun-e", "tun-d", "tun-c", "tun-b", "tun-a"}) {
				t.Fatalf("storetest.UnclosedTunnels: %q, want the oldest first", got)
			}
		})
	}
}

// The store's refusal of a late close names the refused record
// (store.CloseRecoveredError, errors.As), however it is committed, so
// that a caller of a batch can drop that one record.
func TestLateCloseRefusalNamesTheRecord(t *testing.T) {
	for _, b := range journalStores {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, 1)[0]
			ctx := context.Background()
			t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
			if err := s.AppendEvent(ctx, tunnelEvent("OpenTunnel", "tun-swept", "", t0)); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.CloseUnclosedTunnel(ctx, "tun-swept", recoveredClose("tun-swept", t0.Add(time.Second))); !ok || err != nil {
				t.Fatalf("recovery: %v, %v", ok, err)
			}
			late := tunnelEvent("CloseTunnel", "tun-swept", "", t0.Add(time.Minute))
			other := tunnelEvent("DescribeThings", "", "", t0.Add(time.Minute))
			for _, c := range []struct {
				name   string
				commit func() error
			}{
				{"alone", func() error { return s.AppendEvent(ctx, late) }},
				{"in a batch", func() error { return s.AppendEvents(ctx, []store.Event{other, late}) }},
				{"in InTx", func() error {
					return s.InTx(ctx, func(tx store.Repo) error { return tx.AppendEvent(ctx, late) })
				}},
			} {
				err := c.commit()
				var refused *store.CloseRecoveredError
				if !errors.As(err, &refused) || !errors.Is(err, store.ErrCloseRecovered) {
					t.Fatalf("%s: %v, want a store.CloseRecoveredError", c.name, err)
				}
				if refused.EventID != late.EventID || refused.TunnelID != "tun-swept" || !refused.EventTime.Equal(late.EventTime) {
					t.Fatalf("%s: the refusal names %+v, want record %s", c.name, refused, late.EventID)
				}
			}
			if n := closeCount(t, s, "tun-swept"); n != 1 {
				t.Fatalf("%d CloseTunnel records, want the recovered one alone", n)
			}
		})
	}
}
