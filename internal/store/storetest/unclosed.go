package storetest

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/postern/postern/internal/store"
)

// UnclosedTunnels returns the tunnels j's journal lists (as
// store.TunnelJournal's UnclosedTunnelsAfter selects them: carriers not in
// keep and not seen at or after seenSince), oldest first (by the time of
// their OpenTunnel record, then tunnel id), at most limit (all when limit
// <= 0). Tests check the journal with it; production pages through the
// journal with UnclosedTunnelsAfter alone (audit.CloseUnclosedTunnels), so
// the store keeps no listing of its own for tests.
func UnclosedTunnels(ctx context.Context, j store.TunnelJournal, keep []string, seenSince time.Time, limit int) ([]store.UnclosedTunnel, error) {
	const page = 100
	var out []store.UnclosedTunnel
	after := ""
	for {
		us, err := j.UnclosedTunnelsAfter(ctx, keep, seenSince, after, page)
		if err != nil {
			return nil, err
		}
		out = append(out, us...)
		if len(us) < page {
			break
		}
		after = us[len(us)-1].TunnelID
	}
	slices.SortStableFunc(out, func(a, b store.UnclosedTunnel) int {
		if c := a.Open.EventTime.Compare(b.Open.EventTime); c != 0 {
			return c
		}
		return cmp.Compare(a.TunnelID, b.TunnelID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
