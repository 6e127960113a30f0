package sqlstore

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/postern/postern/internal/store"
)

// endpointCache keeps the last full endpoint listing, so that listing
// 1,000 endpoints costs a point read instead of reading ~5,000 rows
// (measured in BenchmarkListEndpoints: about 10 ms uncached, 0.1 ms
// cached).
//
// A snapshot is tagged with the value of the 'endpoints' row of
// change_counters read in the same read transaction as the rows. Triggers
// (migration 0003) bump that counter in every transaction that changes an
// endpoint, its groups, network interfaces or tags, whichever process
// writes, so a committed counter value names one state of the listing. A
// read first reads the counter (one prepared point query) and uses the
// snapshot only if it carries that value; otherwise it reloads.
//
// Inside InTx the counter is read in the transaction: if the transaction
// has changed endpoints the counter differs from every committed value
// and the listing is read from the transaction, and such a listing is
// never cached. A snapshot is never modified once published; callers get
// copies.
type endpointCache struct {
	load sync.Mutex // held while loading, so that one reader loads and the others wait for it
	mu   sync.Mutex
	snap *endpointSnapshot
}

// endpointSnapshot is a full endpoint listing at one counter value.
type endpointSnapshot struct {
	gen  int64
	all  []store.Endpoint // ordered by id
	byID map[string]int   // index in all
}

func (c *endpointCache) at(gen int64) *endpointSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && c.snap.gen == gen {
		return c.snap
	}
	return nil
}

func (c *endpointCache) publish(s *endpointSnapshot) {
	c.mu.Lock()
	c.snap = s
	c.mu.Unlock()
}

// endpointsCounter reads the 'endpoints' change counter.
func (r *repo) endpointsCounter(ctx context.Context, q querier) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, r.q("SELECT n FROM change_counters WHERE name = 'endpoints'")).Scan(&n)
	return n, err
}

// cachedEndpoints returns the cached listing if it is current, nil
// otherwise. It never loads.
func (r *repo) cachedEndpoints(ctx context.Context) *endpointSnapshot {
	gen, err := r.endpointsCounter(ctx, r.read())
	if err != nil {
		return nil
	}
	return r.s.endpoints.at(gen)
}

// endpointSnapshot returns the current full listing: the cached one, or
// one read now (and cached, outside a transaction).
func (r *repo) endpointSnapshot(ctx context.Context) (*endpointSnapshot, error) {
	if b := r.s.bound(ctx); r.tx == nil && b != nil {
		// In the transaction ctx is bound to: what it sees may never be
		// committed, so it must not be cached.
		return b.endpointSnapshot(ctx)
	}
	if s := r.cachedEndpoints(ctx); s != nil {
		return s, nil
	}
	if r.tx != nil {
		all, err := r.selectEndpoints(ctx, r.tx, "", 0)
		return &endpointSnapshot{all: all}, err
	}
	c := &r.s.endpoints
	c.load.Lock()
	defer c.load.Unlock()
	if s := r.cachedEndpoints(ctx); s != nil { // loaded while we waited
		return s, nil
	}
	s := &endpointSnapshot{}
	counted := false
	err := r.view(ctx, func(q querier) error {
		gen, err := r.endpointsCounter(ctx, q)
		s.gen, counted = gen, err == nil
		s.all, err = r.selectEndpoints(ctx, q, "", 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.byID = make(map[string]int, len(s.all))
	for i, e := range s.all {
		s.byID[e.EndpointID] = i
	}
	if counted {
		c.publish(s)
	}
	return s, nil
}

// page applies q to the snapshot and returns copies. Ids compare as Go
// strings, which is the order of the id column (binary collation).
func (s *endpointSnapshot) page(q store.EndpointQuery) []store.Endpoint {
	start := 0
	if q.AfterID != "" {
		start = sort.Search(len(s.all), func(i int) bool { return s.all[i].EndpointID > q.AfterID })
	}
	n := len(s.all) - start
	if q.Limit > 0 && q.Limit < n {
		n = q.Limit
	}
	var out []store.Endpoint
	for i := start; i < len(s.all) && len(out) < n; i++ {
		e := &s.all[i]
		if oneOf(q.IDs, e.EndpointID) && oneOf(q.VpcIDs, e.VpcID) && oneOf(q.SubnetIDs, e.SubnetID) && oneOf(q.States, e.State) {
			if out == nil {
				out = make([]store.Endpoint, 0, n)
			}
			out = append(out, *e)
		}
	}
	return detach(out)
}

// oneOf reports whether v is in set; an empty set allows everything.
func oneOf(set []string, v string) bool {
	return len(set) == 0 || slices.Contains(set, v)
}

// copyEndpoints deep-copies endpoints, so that callers may change what
// they get without touching the cache.
func copyEndpoints(src []store.Endpoint) []store.Endpoint {
	return detach(slices.Clone(src))
}

// detach gives the endpoints copies of their slices, in place. The copies
// share three backing arrays, capacity-limited so that appending to one
// reallocates it.
func detach(es []store.Endpoint) []store.Endpoint {
	var nIDs, nTags int
	for i := range es {
		nIDs += len(es[i].SecurityGroupIDs) + len(es[i].NetworkInterfaceIDs)
		nTags += len(es[i].Tags)
	}
	ids := make([]string, 0, nIDs)
	tags := make([]store.Tag, 0, nTags)
	cloneIDs := func(s []string) []string {
		if len(s) == 0 {
			return s
		}
		start := len(ids)
		ids = append(ids, s...)
		return ids[start:len(ids):len(ids)]
	}
	for i := range es {
		e := &es[i]
		e.SecurityGroupIDs = cloneIDs(e.SecurityGroupIDs)
		e.NetworkInterfaceIDs = cloneIDs(e.NetworkInterfaceIDs)
		if len(e.Tags) > 0 {
			start := len(tags)
			tags = append(tags, e.Tags...)
			e.Tags = tags[start:len(tags):len(tags)]
		}
	}
	return es
}
