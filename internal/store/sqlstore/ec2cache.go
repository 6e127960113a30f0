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
// On SQLite, whose file only this process writes (Store.localChanges), a
// read outside a transaction first compares the Store's in-memory count of
// committed writes (Store.Changes) with the one the snapshot was loaded or
// last checked at: if no write committed since, the snapshot is current
// without a query (the counter query was ~28 µs, 8–10 % of a Describe by
// id: BenchmarkAPIBinary). Every transaction that can change an endpoint
// counts (write, InTx with a write, a rolled-back one included) and the
// count moves after its commit, before the write returns; the count is
// read before the snapshot's rows or its counter, so a snapshot is never
// tagged with a count older than a write it misses. When the count moved
// the counter is read as above, and a snapshot still current is tagged
// with the count read first. PostgreSQL always reads the counter: other
// replicas write too.
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
	// local is Store.Changes read before the snapshot was known current at
	// gen; hasLocal says it was read (SQLite, outside a transaction).
	local    uint64
	hasLocal bool
}

func (c *endpointCache) at(gen int64) *endpointSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && c.snap.gen == gen {
		return c.snap
	}
	return nil
}

// atLocal returns the snapshot if it was current when the Store's change
// count was local.
func (c *endpointCache) atLocal(local uint64) *endpointSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && c.snap.hasLocal && c.snap.local == local {
		return c.snap
	}
	return nil
}

// retag replaces s, if it is still the published snapshot, with a copy
// tagged with the change count local (read before s was found current),
// and returns what the caller may use: s's rows either way.
func (c *endpointCache) retag(s *endpointSnapshot, local uint64) *endpointSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == s && (!s.hasLocal || s.local != local) {
		t := *s
		t.local, t.hasLocal = local, true
		c.snap = &t
	}
	return s
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
	local, fast := r.localChanges(ctx)
	if fast {
		if s := r.s.endpoints.atLocal(local); s != nil {
			return s
		}
	}
	gen, err := r.endpointsCounter(ctx, r.read())
	if err != nil {
		return nil
	}
	s := r.s.endpoints.at(gen)
	if s != nil && fast {
		s = r.s.endpoints.retag(s, local)
	}
	return s
}

// localChanges returns the Store's count of committed writes and true when
// that count alone tells whether the endpoints changed: a Store whose
// database only this process writes (SQLite), read outside any
// transaction (a transaction sees its own uncommitted writes, which the
// count does not).
func (r *repo) localChanges(ctx context.Context) (uint64, bool) {
	if !r.s.localChanges || r.tx != nil || r.s.bound(ctx) != nil {
		return 0, false
	}
	return r.s.changes.Load(), true
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
	// Read before the rows: a write that commits in between moves the
	// count past this value, so the snapshot is reloaded (see above).
	s.local, s.hasLocal = r.localChanges(ctx)
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
