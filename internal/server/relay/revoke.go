package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/postern/postern/internal/store"
)

// Revocation across replicas. RevokeEndpointAgent on one replica closes
// the agent's link there at once (Disconnect) and tells the agent to stop;
// every other replica must not depend on the agent obeying. Each relay
// therefore re-reads the revoked flags of the agents linked to it when the
// store says something was written (store.ChangeCounter, polled every
// RevocationPoll; on PostgreSQL it counts every replica's writes) and
// every RevocationRecheck in any case, and disconnects the revoked ones as
// the revoking replica does: their tunnels end as revoked (close code
// 1008, CloseTunnel reason Revoked). A revoked agent found is disconnected
// at the next poll rather than at once, so that on the revoking replica
// the API's own Disconnect, which names who revoked the agent, comes
// first. Open asks the store before routing a tunnel to an agent, so that
// no tunnel goes to an agent revoked a moment ago whose link this replica
// has not dropped yet.

// Revocation re-check timing.
const (
	RevocationPoll    = 200 * time.Millisecond
	RevocationRecheck = 30 * time.Second
)

// watchRevocations runs until Close.
func (r *Relay) watchRevocations() {
	// Without a change counter: every second.
	watch := store.NewChangeWatch(r.cfg.Store, time.Now(), RevocationRecheck, 5*RevocationPoll)
	pending := map[string]bool{} // revoked agents found at the last check
	tick := time.NewTicker(RevocationPoll)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		if watch.Due(time.Now(), len(pending) > 0) {
			pending = r.dropRevoked(pending)
			r.syncVPCs()
		}
	}
}

// dropRevoked disconnects the linked agents that are revoked and were so
// at the previous check too (pending), and returns those revoked now.
func (r *Relay) dropRevoked(pending map[string]bool) map[string]bool {
	r.mu.Lock()
	linked := map[string][]string{} // endpoint → its linked agents
	for id, l := range r.byAgent {
		linked[l.endpointID] = append(linked[l.endpointID], id)
	}
	r.mu.Unlock()
	revoked := map[string]bool{}
	if len(linked) == 0 {
		return revoked
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ep, ids := range linked {
		agents, err := r.cfg.Store.ListAgents(ctx, ep)
		if err != nil {
			r.log.Warn("revocation check: list the endpoint's agents", "endpoint", ep, "error", err)
			for _, id := range ids {
				if pending[id] {
					revoked[id] = true // try again at the next poll
				}
			}
			continue
		}
		isRevoked := map[string]bool{}
		for _, a := range agents {
			if !a.RevokedAt.IsZero() {
				isRevoked[a.AgentID] = true
			}
		}
		for _, id := range ids {
			if !isRevoked[id] {
				continue
			}
			if !pending[id] {
				revoked[id] = true // disconnected at the next poll, unless the API did it
				continue
			}
			if r.Disconnect(id, true, revokedMessage(id)) {
				r.log.Warn("closed the link of a revoked endpoint agent (revoked through another replica, or it ignored the revocation)",
					"agent", id, "endpoint", ep)
			}
		}
	}
	return revoked
}

// revokedMessage is why a revoked agent's tunnels ended, when this replica
// found the revocation in the store.
func revokedMessage(agentID string) string {
	return "the endpoint agent " + agentID + " was revoked"
}

// errAgentRevoked: Open found the agent revoked.
var errAgentRevoked = errors.New("relay: the endpoint agent was revoked")

// usable reports, from the store, whether tunnels may be routed to the
// agent: nil when it is on record and not revoked.
//
// A "usable" answer is kept while the store's change count stays the same
// (store.ChangeCounter, read before the agent): a revocation or deletion
// is a counted write, so the first open after its commit reads the agent
// again and is refused. Only usable answers are kept; a revoked or
// unknown agent, or a failed read, is read again every time. On a store
// shared by replicas (store.Replicated) nothing is kept: there the point
// of this read is a revocation committed by another replica a moment ago,
// which the count hears only milliseconds later.
func (r *Relay) usable(ctx context.Context, agentID string) error {
	gen, cached := r.usableAgents.lookup(agentID)
	if cached {
		return nil
	}
	a, err := r.cfg.Store.GetAgent(ctx, agentID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: agent %s is not on record", errAgentRevoked, agentID)
	case err != nil:
		return fmt.Errorf("relay: look agent %s up: %w", agentID, err)
	case !a.RevokedAt.IsZero():
		return fmt.Errorf("%w: agent %s", errAgentRevoked, agentID)
	}
	r.usableAgents.keep(agentID, gen)
	return nil
}

// usableCache keeps, per agent, the change count at which the store last
// said the agent is usable (see usable).
type usableCache struct {
	changes store.ChangeCounter // nil: nothing is kept

	mu sync.Mutex
	m  map[string]uint64
}

// maxUsableAgents bounds the cache; when full it is emptied.
const maxUsableAgents = 4096

// lookup returns the current change count and whether agentID was found
// usable at that count.
func (c *usableCache) lookup(agentID string) (gen uint64, ok bool) {
	if c.changes == nil {
		return 0, false
	}
	gen = c.changes.Changes()
	c.mu.Lock()
	at, found := c.m[agentID]
	c.mu.Unlock()
	return gen, found && at == gen
}

// keep records that agentID was found usable by a read that began at
// count gen.
func (c *usableCache) keep(agentID string, gen uint64) {
	if c.changes == nil {
		return
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxUsableAgents {
		c.m = make(map[string]uint64)
	}
	c.m[agentID] = gen
	c.mu.Unlock()
}
