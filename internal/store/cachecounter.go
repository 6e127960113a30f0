package store

// Freshness is how soon a cache keyed by the store's change count
// (ChangeCounter) must see a write committed by any server process.
type Freshness int

const (
	// NextRead: the first read after a write commits, on any replica,
	// must see it. For the answers a revocation changes: an access key
	// and its user, an endpoint, an agent not being revoked.
	NextRead Freshness = iota
	// ChangeFeed: a write committed by another replica may be seen a few
	// milliseconds after its commit, once the store's change feed has
	// heard of it (this process's own writes are seen at once). For
	// parsed policies and their sources, security-group and VPC answers.
	ChangeFeed
)

// CacheCounter returns the change count a cache needing freshness f may
// key its entries by, or nil when it must cache nothing. It is the one
// place that rule is written:
//
//   - a store with no ChangeCounter: nil;
//   - a store no other process shares (SQLite): its ChangeCounter, which
//     counts every write as it commits, so both kinds of cache may use it;
//   - a store shared by replicas (Replicated, PostgreSQL): its
//     ChangeCounter follows the other replicas' writes through the
//     change feed, milliseconds after their commit, and changes at every
//     call while the feed is down; so it is returned for ChangeFeed and
//     nil for NextRead, whose callers then read the store every time.
func CacheCounter(st Repo, f Freshness) ChangeCounter {
	cc, ok := st.(ChangeCounter)
	if !ok {
		return nil
	}
	if _, shared := st.(Replicated); shared && f != ChangeFeed {
		return nil
	}
	return cc
}
