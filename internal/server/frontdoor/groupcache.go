package frontdoor

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/postern/postern/internal/store"
)

// groupCache keeps the security-group answers of checkGroups (allowed, or
// refused by the groups) while the store's change count stays the same
// (store.ChangeCounter), so that an open does not read the target
// instance, the groups' rules and the subnet again while nothing was
// written. The count is read before the store is, so a write that commits
// during the reads makes the next open read again, and a changed rule,
// group, instance or endpoint is seen by the first open after its commit.
// Without a ChangeCounter nothing is cached. On a store shared by
// replicas the count follows the change feed (store.ChangeFeed): another
// replica's write is seen by the first open after its notice arrives,
// milliseconds after its commit, and never missed.
type groupCache countCache[*Refusal]

// maxGroupAnswers bounds the cache; when full it is emptied.
const maxGroupAnswers = 4096

// groupKey names every input of checkGroups that does not come from the
// store's reads: the endpoint's fields it uses (they were read before the
// count, so they are part of the key), the VPC, the target and, when the
// endpoint preserves it, the client's address.
func groupKey(ep store.Endpoint, vpcID string, req *request) string {
	var b strings.Builder
	b.WriteString(ep.EndpointID)
	b.WriteByte('|')
	b.WriteString(vpcID)
	b.WriteByte('|')
	b.WriteString(ep.SubnetID)
	b.WriteByte('|')
	b.WriteString(strings.Join(ep.SecurityGroupIDs, ","))
	b.WriteByte('|')
	b.WriteString(req.addr.String())
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(req.port))
	if ep.PreserveClientIP {
		b.WriteString("|preserve|")
		b.WriteString(req.sourceIP)
	}
	return b.String()
}

// check returns read's answer, cached. Only answers of the groups (nil or
// a ReasonSecurityGroup refusal) are kept; an internal error is not.
func (c *groupCache) check(ctx context.Context, key string, read func(context.Context) *Refusal) *Refusal {
	cc := (*countCache[*Refusal])(c)
	if cc.changes == nil {
		return read(ctx)
	}
	gen, a, ok := cc.load(key)
	if ok {
		return a.copy()
	}
	ref := read(ctx)
	if ref != nil && (ref.Reason != ReasonSecurityGroup || ref.Status != http.StatusForbidden) {
		return ref
	}
	cc.keep(key, gen, ref.copy())
	return ref
}

// copy returns a copy of r (nil for nil), so that a cached refusal is
// never shared with a caller.
func (r *Refusal) copy() *Refusal {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// vpcCache keeps the VPCs the front door read by id while the store's
// change count stays the same, as groupCache does for the groups' answers.
type vpcCache countCache[store.Vpc]

// get returns the VPC id from st, or from the cache when nothing was
// written since it was read. Errors are st's, never cached.
func (c *vpcCache) get(ctx context.Context, st store.Vpcs, id string) (store.Vpc, error) {
	return (*countCache[store.Vpc])(c).get(ctx, id, st.GetVpc, detachVpc)
}

// detachVpc returns vpc with a copy of its tags.
func detachVpc(vpc store.Vpc) store.Vpc {
	vpc.Tags = slices.Clone(vpc.Tags)
	return vpc
}

// endpointCache keeps the endpoints the front door read by id while the
// store's change count stays the same, as vpcCache does for VPCs: an open
// no longer reads the endpoint's row, its groups, interfaces and tags
// while nothing was written. Every write that changes an endpoint (its
// state, groups, tags, deletion) is a counted write, so the first open
// after its commit reads the store again. It is off (nil changes:
// store.CacheCounter with NextRead) on a store shared by replicas: there
// another replica's write is heard milliseconds after its commit, and the
// store's own endpoint cache is exact across replicas.
type endpointCache countCache[store.Endpoint]

// get returns endpoint id from st, or from the cache when nothing was
// written since it was read. Errors (not found included) are st's, never
// cached; callers get copies of the slices.
func (c *endpointCache) get(ctx context.Context, st store.Endpoints, id string) (store.Endpoint, error) {
	return (*countCache[store.Endpoint])(c).get(ctx, id, st.GetEndpoint, detachEndpoint)
}

// detachEndpoint returns ep with copies of its slices.
func detachEndpoint(ep store.Endpoint) store.Endpoint {
	ep.SecurityGroupIDs = slices.Clone(ep.SecurityGroupIDs)
	ep.NetworkInterfaceIDs = slices.Clone(ep.NetworkInterfaceIDs)
	ep.Tags = slices.Clone(ep.Tags)
	return ep
}

// countCache keeps values read by key while the store's change count
// (store.ChangeCounter) stays the same; it is the shape shared by
// groupCache, vpcCache and endpointCache. The count is read before the
// store is, so a write that commits during the read makes the next get
// read again. Without a ChangeCounter nothing is cached. It holds at most
// maxGroupAnswers values; when full it is emptied.
type countCache[V any] struct {
	changes store.ChangeCounter

	mu sync.Mutex
	m  map[string]counted[V]
}

// counted is a value as read while the count was gen.
type counted[V any] struct {
	gen uint64
	v   V
}

// load reads the count, then returns it with the value kept for key when
// that value was read at the same count. c.changes must not be nil.
func (c *countCache[V]) load(key string) (gen uint64, v V, ok bool) {
	gen = c.changes.Changes()
	c.mu.Lock()
	e, found := c.m[key]
	c.mu.Unlock()
	if found && e.gen == gen {
		return gen, e.v, true
	}
	return gen, v, false
}

// keep stores v for key as read at count gen, emptying the cache first
// when it is full.
func (c *countCache[V]) keep(key string, gen uint64, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxGroupAnswers {
		c.m = make(map[string]counted[V])
	}
	c.m[key] = counted[V]{gen: gen, v: v}
	c.mu.Unlock()
}

// get returns read's value for key, from the cache when nothing was
// written since it was read. Errors are read's, never cached. detach
// copies what a caller could change (slices), both for the kept value
// and for every value served from the cache.
func (c *countCache[V]) get(ctx context.Context, key string, read func(context.Context, string) (V, error), detach func(V) V) (V, error) {
	if c.changes == nil {
		return read(ctx, key)
	}
	gen, v, ok := c.load(key)
	if ok {
		return detach(v), nil
	}
	v, err := read(ctx, key)
	if err != nil {
		return v, err
	}
	c.keep(key, gen, detach(v))
	return v, nil
}
