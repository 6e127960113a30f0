package ec2api

import (
	"slices"
	"sync"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
)

// instanceCache keeps what DescribeInstances reads from the store (every
// instance, with its groups and tags, and every security group's name)
// while the store's change count stays the same (store.ChangeCounter with
// store.NextRead freshness, as the endpoint cache: on SQLite, whose file
// only this process writes, the count moves with every committed write; a
// store shared by replicas gets no count and is read every time).
//
// Why: the ProxyCommand path (`open-tunnel --instance-id`) starts with a
// DescribeInstances by id, and reading the store there took two read
// transactions and five statements (instances, their groups and tags, the
// groups and their tags): ~7x the server CPU of the
// DescribeInstanceConnectEndpoints by VPC that follows it, which the
// endpoint cache answers from memory.
//
// The count is read before the store is, so a write that commits during
// the reads makes the next call read again; a change is seen by the first
// call after its commit. A snapshot is never modified once kept: callers
// get a copy of the listing (its items' slices are shared, and the
// Describe path only reads them).
type instanceCache struct {
	changes store.ChangeCounter // nil: nothing is cached

	mu   sync.Mutex
	snap *instanceSnapshot
}

// instanceSnapshot is the store's instances and group names as read at
// one change count.
type instanceSnapshot struct {
	gen   uint64
	all   []store.Instance // ordered by id, as ListInstances answers
	byID  map[string]int   // index in all
	names groupNames
	// namesErr is groupNames' error: such a snapshot is not kept, and
	// the error is answered where groupNames' was (after the ids are
	// checked).
	namesErr error
}

// newInstanceCache caches nothing unless st counts its changes in a way a
// read-after-write answer may trust (store.NextRead).
func newInstanceCache(st store.Repo) *instanceCache {
	return &instanceCache{changes: store.CacheCounter(st, store.NextRead)}
}

// snapshot returns the current snapshot, reading the store when nothing
// current is kept; ok is false when nothing may be cached (no change
// count, or a call bound to a store transaction, which may see writes that
// are never committed): the caller then reads the store itself. err is
// ListInstances' error; groupNames' is snap.namesErr.
func (s *service) instanceSnapshot(c *api.Call) (snap *instanceSnapshot, ok bool, err error) {
	ic := s.instances
	if ic == nil || ic.changes == nil || store.BoundTx(ctx(c)) != nil {
		return nil, false, nil
	}
	gen := ic.changes.Changes()
	ic.mu.Lock()
	snap = ic.snap
	ic.mu.Unlock()
	if snap != nil && snap.gen == gen {
		return snap, true, nil
	}
	all, err := s.st.ListInstances(ctx(c))
	if err != nil {
		return nil, true, err
	}
	snap = &instanceSnapshot{gen: gen, all: all, byID: make(map[string]int, len(all))}
	for i, in := range all {
		snap.byID[in.InstanceID] = i
	}
	if snap.names, snap.namesErr = s.groupNames(c); snap.namesErr != nil {
		return snap, true, nil
	}
	ic.mu.Lock()
	if ic.snap == nil || ic.snap.gen <= gen { // never replace a newer one
		ic.snap = snap
	}
	ic.mu.Unlock()
	return snap, true, nil
}

// instances returns the snapshot's instances with the given ids (all of
// them when ids is empty), in the snapshot's order, each once: what
// selectIDs keeps of the full listing. Ids it does not hold are left out,
// for selectIDs to answer NotFound as it does for the full listing. The
// slice is the caller's.
func (snap *instanceSnapshot) instances(ids []string) []store.Instance {
	if len(ids) == 0 {
		return slices.Clone(snap.all)
	}
	idx := make([]int, 0, len(ids))
	for _, id := range ids {
		if i, ok := snap.byID[id]; ok {
			idx = append(idx, i)
		}
	}
	if len(idx) > 1 {
		slices.Sort(idx)
		idx = slices.Compact(idx)
	}
	out := make([]store.Instance, len(idx))
	for k, i := range idx {
		out[k] = snap.all[i]
	}
	return out
}
