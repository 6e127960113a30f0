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
type groupCache struct {
	changes store.ChangeCounter

	mu sync.Mutex
	m  map[string]groupAnswer
}

// groupAnswer is checkGroups' answer, found while the count was gen.
type groupAnswer struct {
	gen     uint64
	refusal *Refusal // nil: allowed
}

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
	if c.changes == nil {
		return read(ctx)
	}
	gen := c.changes.Changes()
	c.mu.Lock()
	a, ok := c.m[key]
	c.mu.Unlock()
	if ok && a.gen == gen {
		return a.refusal.copy()
	}
	ref := read(ctx)
	if ref != nil && (ref.Reason != ReasonSecurityGroup || ref.Status != http.StatusForbidden) {
		return ref
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxGroupAnswers {
		c.m = make(map[string]groupAnswer)
	}
	c.m[key] = groupAnswer{gen: gen, refusal: ref.copy()}
	c.mu.Unlock()
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
type vpcCache struct {
	changes store.ChangeCounter

	mu sync.Mutex
	m  map[string]cachedVpc
}

// cachedVpc is a VPC as read while the count was gen.
type cachedVpc struct {
	gen uint64
	vpc store.Vpc
}

// get returns the VPC id from st, or from the cache when nothing was
// written since it was read. Errors are st's, never cached.
func (c *vpcCache) get(ctx context.Context, st store.Vpcs, id string) (store.Vpc, error) {
	if c.changes == nil {
		return st.GetVpc(ctx, id)
	}
	gen := c.changes.Changes()
	c.mu.Lock()
	v, ok := c.m[id]
	c.mu.Unlock()
	if ok && v.gen == gen {
		out := v.vpc
		out.Tags = slices.Clone(out.Tags)
		return out, nil
	}
	vpc, err := st.GetVpc(ctx, id)
	if err != nil {
		return vpc, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxGroupAnswers {
		c.m = make(map[string]cachedVpc)
	}
	kept := vpc
	kept.Tags = slices.Clone(vpc.Tags)
	c.m[id] = cachedVpc{gen: gen, vpc: kept}
	c.mu.Unlock()
	return vpc, nil
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
type endpointCache struct {
	changes store.ChangeCounter

	mu sync.Mutex
	m  map[string]cachedEndpoint
}

// cachedEndpoint is an endpoint as read while the count was gen.
type cachedEndpoint struct {
	gen uint64
	ep  store.Endpoint
}

// get returns endpoint id from st, or from the cache when nothing was
// written since it was read. Errors (not found included) are st's, never
// cached; callers get copies of the slices.
func (c *endpointCache) get(ctx context.Context, st store.Endpoints, id string) (store.Endpoint, error) {
	if c.changes == nil {
		return st.GetEndpoint(ctx, id)
	}
	gen := c.changes.Changes()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && e.gen == gen {
		return detachEndpoint(e.ep), nil
	}
	ep, err := st.GetEndpoint(ctx, id)
	if err != nil {
		return ep, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxGroupAnswers {
		c.m = make(map[string]cachedEndpoint)
	}
	c.m[id] = cachedEndpoint{gen: gen, ep: detachEndpoint(ep)}
	c.mu.Unlock()
	return ep, nil
}

// detachEndpoint returns ep with copies of its slices.
func detachEndpoint(ep store.Endpoint) store.Endpoint {
	ep.SecurityGroupIDs = slices.Clone(ep.SecurityGroupIDs)
	ep.NetworkInterfaceIDs = slices.Clone(ep.NetworkInterfaceIDs)
	ep.Tags = slices.Clone(ep.Tags)
	return ep
}
