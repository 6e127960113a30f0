// Package endpoints owns the life cycle of EC2 Instance Connect Endpoints
// and of the agents that serve them: join tokens (issue, hash, redeem),
// the state machine (the states and transitions of package eice, applied
// to stored endpoints), agents joining, leaving and being revoked, the
// completion of an endpoint's deletion when its last agent leaves (or,
// when a crash cut it short, FinishStaleDeletions), the endpoints' DNS
// names and the local network of the one-machine run.
//
// The EC2 API (package ec2api), the agents' links (package relay) and the
// tunnel front door call it; it calls the tunnel side back only through
// Links, which the relay implements. It returns plain Go errors and
// sentinels (ErrInvalidTransition, ErrInvalidJoinToken, ErrAgentKeyInUse);
// AWS error codes are the callers' business, at the network edge.
package endpoints

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// ErrInvalidTransition is returned (wrapped) when the endpoint's state
// does not allow the change (package eice).
var ErrInvalidTransition = errors.New("endpoints: endpoint state does not allow this transition")

// AgentStatus is a connected agent as operators see it.
type AgentStatus struct {
	AgentID, EndpointID    string
	Name, Version, Address string
	ConnectedSince         time.Time
	Tunnels                int
	Draining               bool
	Embedded               bool
	// PreserveClientIP: the agent can connect from clients' addresses;
	// PreserveProblem says why not when it cannot (what its host lacks).
	PreserveClientIP bool
	PreserveProblem  string
	// ProxyProtocolV2: the agent can send PROXY protocol v2 headers.
	ProxyProtocolV2 bool
}

// Links is the tunnel side's registry of connected agents (package
// relay's Relay implements it).
type Links interface {
	// Connected lists the connected agents of an endpoint ("" for all),
	// ordered by agent id.
	Connected(endpointID string) []AgentStatus
	// Disconnect closes an agent's link (and its tunnels, as revoked
	// when revoked is true); it reports whether the agent was connected.
	Disconnect(agentID string, revoked bool, message string) bool
	// DisconnectEndpoint closes the links of every agent of an endpoint.
	DisconnectEndpoint(endpointID, message string)
}

// Config configures Endpoints.
type Config struct {
	// Store holds the endpoints and agents. Required.
	Store store.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
	// IDs makes resource ids for a prefix (awsid.Prefix…); default
	// awsid.EC2. Tests inject a deterministic one.
	IDs func(prefix string) string
	// Logger; default discards.
	Logger *slog.Logger
}

// Endpoints moves Instance Connect Endpoints and their agents through
// their life cycle. An agent that serves an endpoint joins and leaves it,
// identified by its network-interface id (its agent id, shown in the
// endpoint's networkInterfaceIdSet). Every change runs in one store
// transaction and is checked with eice.CanTransition. Endpoints is safe
// for concurrent use.
type Endpoints struct {
	st  store.Store
	now func() time.Time
	ids func(prefix string) string
	log *slog.Logger

	mu    sync.Mutex
	links Links
	// deleting holds when this server first saw each endpoint in
	// delete-in-progress (FinishStaleDeletions).
	deleting map[string]time.Time
}

// New returns the endpoints' life cycle over cfg's store.
func New(cfg Config) (*Endpoints, error) {
	if cfg.Store == nil {
		return nil, errors.New("endpoints: Config needs Store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IDs == nil {
		cfg.IDs = awsid.EC2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Endpoints{st: cfg.Store, now: cfg.Now, ids: cfg.IDs, log: cfg.Logger}, nil
}

// SetLinks connects the tunnel side's registry of agents; until it is
// set (or when the server runs no tunnel side) no agent is connected and
// nothing is disconnected.
func (h *Endpoints) SetLinks(l Links) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.links = l
}

func (h *Endpoints) getLinks() Links {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.links
}

// Connected lists the connected agents of an endpoint ("" for every
// endpoint); none when no tunnel side is connected.
func (h *Endpoints) Connected(endpointID string) []AgentStatus {
	if l := h.getLinks(); l != nil {
		return l.Connected(endpointID)
	}
	return nil
}

// Joinable reports whether agents may join an endpoint in state s: one
// being created or a usable one (eice.Usable).
func Joinable(s string) bool { return s == eice.CreateInProgress || eice.Usable(s) }

// Deleted reports whether an endpoint in state s is deleted or being
// deleted: its agents and tunnels go.
func Deleted(s string) bool { return s == eice.DeleteInProgress || s == eice.DeleteComplete }

// update runs fn on the endpoint inside a transaction and stores the
// result if fn reports a change.
func (h *Endpoints) update(ctx context.Context, endpointID string, fn func(e *store.Endpoint) (changed bool, err error)) error {
	return h.st.InTx(ctx, func(tx store.Repo) error {
		e, err := tx.GetEndpoint(ctx, endpointID)
		if err != nil {
			return fmt.Errorf("endpoints: get endpoint %s: %w", endpointID, err)
		}
		changed, err := fn(&e)
		if err != nil || !changed {
			return err
		}
		if err := tx.UpdateEndpoint(ctx, e); err != nil {
			return fmt.Errorf("endpoints: update endpoint %s: %w", endpointID, err)
		}
		return nil
	})
}

// AgentJoined records that an agent serves the endpoint through the
// network interface eniID (added to networkInterfaceIdSet once) and moves
// a create-in-progress endpoint to create-complete. Agents may join
// endpoints that are Joinable; for any other state it returns an error
// wrapping ErrInvalidTransition. An unknown endpoint is an error wrapping
// store.ErrNotFound.
func (h *Endpoints) AgentJoined(ctx context.Context, endpointID, eniID string) error {
	if eniID == "" {
		return errors.New("endpoints: AgentJoined needs a network interface id")
	}
	return h.update(ctx, endpointID, func(e *store.Endpoint) (bool, error) {
		return agentJoined(e, endpointID, eniID)
	})
}

// AgentJoinedIn is AgentJoined inside the caller's transaction tx.
func (h *Endpoints) AgentJoinedIn(ctx context.Context, tx store.Repo, endpointID, eniID string) error {
	if eniID == "" {
		return errors.New("endpoints: AgentJoined needs a network interface id")
	}
	e, err := tx.GetEndpoint(ctx, endpointID)
	if err != nil {
		return fmt.Errorf("endpoints: get endpoint %s: %w", endpointID, err)
	}
	changed, err := agentJoined(&e, endpointID, eniID)
	if err != nil || !changed {
		return err
	}
	if err := tx.UpdateEndpoint(ctx, e); err != nil {
		return fmt.Errorf("endpoints: update endpoint %s: %w", endpointID, err)
	}
	return nil
}

// agentJoined applies an agent's joining to an endpoint record.
func agentJoined(e *store.Endpoint, endpointID, eniID string) (bool, error) {
	switch {
	case e.State == eice.CreateInProgress:
		if !eice.CanTransition(e.State, eice.CreateComplete) {
			return false, fmt.Errorf("%w: %s → %s", ErrInvalidTransition, e.State, eice.CreateComplete)
		}
		e.State, e.StateMessage = eice.CreateComplete, ""
	case eice.Usable(e.State):
	default:
		return false, fmt.Errorf("%w: agent cannot join endpoint %s in state %s", ErrInvalidTransition, endpointID, e.State)
	}
	if !slices.Contains(e.NetworkInterfaceIDs, eniID) {
		e.NetworkInterfaceIDs = append(slices.Clone(e.NetworkInterfaceIDs), eniID)
	}
	return true, nil
}

// AgentLeft records that the agent behind eniID no longer serves the
// endpoint (removing the id; leaving twice is not an error). When the
// endpoint is being deleted and this was its last agent, the deletion
// completes (delete-complete). An unknown endpoint is an error wrapping
// store.ErrNotFound.
func (h *Endpoints) AgentLeft(ctx context.Context, endpointID, eniID string) error {
	return h.update(ctx, endpointID, func(e *store.Endpoint) (bool, error) {
		i := slices.Index(e.NetworkInterfaceIDs, eniID)
		changed := false
		if i >= 0 {
			e.NetworkInterfaceIDs = slices.Delete(slices.Clone(e.NetworkInterfaceIDs), i, i+1)
			changed = true
		}
		if e.State == eice.DeleteInProgress && len(e.NetworkInterfaceIDs) == 0 && eice.CanTransition(e.State, eice.DeleteComplete) {
			e.State, e.DeletedAt = eice.DeleteComplete, h.now().UTC().Truncate(time.Millisecond)
			changed = true
		}
		return changed, nil
	})
}

// SetState moves the endpoint to state with a state message (e.g.
// create-failed with the reason), if eice.CanTransition allows it;
// otherwise the error wraps ErrInvalidTransition. Moving to
// delete-complete records the deletion time.
func (h *Endpoints) SetState(ctx context.Context, endpointID, state, message string) error {
	return h.update(ctx, endpointID, func(e *store.Endpoint) (bool, error) {
		if !eice.CanTransition(e.State, state) {
			return false, fmt.Errorf("%w: %s → %s", ErrInvalidTransition, e.State, state)
		}
		e.State, e.StateMessage = state, message
		if state == eice.DeleteComplete {
			e.DeletedAt = h.now().UTC().Truncate(time.Millisecond)
		}
		return true, nil
	})
}

// StartDeletion applies DeleteInstanceConnectEndpoint to the endpoint
// record e (read in the caller's transaction) at time now. It returns the
// endpoint as the answer shows it (delete-in-progress) and whether e
// changed and must be stored: an endpoint with no agent goes straight on
// to delete-complete; one being deleted already is left as it is. A state
// that cannot be deleted is an error wrapping ErrInvalidTransition. The
// agents of an endpoint left in delete-in-progress must then be told
// (EndpointDeleting); the last to leave completes the deletion.
func StartDeletion(e *store.Endpoint, now time.Time) (shown store.Endpoint, changed bool, err error) {
	if e.State == eice.DeleteInProgress {
		return *e, false, nil // already being deleted: nothing to do
	}
	if !eice.CanTransition(e.State, eice.DeleteInProgress) {
		return *e, false, fmt.Errorf("%w: %s → %s", ErrInvalidTransition, e.State, eice.DeleteInProgress)
	}
	e.State, e.StateMessage = eice.DeleteInProgress, ""
	shown = *e
	if len(e.NetworkInterfaceIDs) == 0 && eice.CanTransition(e.State, eice.DeleteComplete) {
		e.State, e.DeletedAt = eice.DeleteComplete, now
	}
	return shown, true, nil
}

// EndpointDeleting disconnects the agents of an endpoint being deleted
// and removes each from the endpoint; the last to leave completes the
// deletion. Call it once the deletion is committed. Without a tunnel
// side (SetLinks) it does nothing: agents leave as they disconnect.
func (h *Endpoints) EndpointDeleting(endpointID string) {
	ctx := context.Background()
	l := h.getLinks()
	if l == nil {
		return
	}
	l.DisconnectEndpoint(endpointID, "The instance connect endpoint was deleted")
	ep, err := h.st.GetEndpoint(ctx, endpointID)
	if err != nil {
		return
	}
	for _, eni := range ep.NetworkInterfaceIDs {
		if err := h.AgentLeft(ctx, endpointID, eni); err != nil {
			h.log.Error("remove agent from a deleted endpoint", "endpoint", endpointID, "agent", eni, "error", err)
		}
	}
}

// StaleDeletion is how long an endpoint may stay in delete-in-progress,
// as one server sees it, before FinishStaleDeletions completes the
// deletion. A deletion completes within seconds of its commit
// (EndpointDeleting) unless the server deleting it stopped in between.
const StaleDeletion = 5 * time.Minute

// FinishStaleDeletions completes the deletions a server left unfinished
// (it stopped between DeleteInstanceConnectEndpoint's commit and its
// agents' leaving): an endpoint this server has seen in
// delete-in-progress for bound or longer, since its first call that saw
// it, is finished as EndpointDeleting finishes one: its network
// interfaces leave it, it reaches delete-complete at now and its agents'
// links close. Ages count from this server's own sightings, not from a stored
// time, so that no replica finishes a deletion another is still
// carrying out; bound 0 finishes every deletion at once (for a store no
// other server shares, at start). It returns how many it finished.
func (h *Endpoints) FinishStaleDeletions(ctx context.Context, now time.Time, bound time.Duration) (int, error) {
	eps, err := h.st.ListEndpointsPage(ctx, store.EndpointQuery{States: []string{eice.DeleteInProgress}})
	if err != nil {
		return 0, fmt.Errorf("endpoints: list endpoints being deleted: %w", err)
	}
	var stale []string
	h.mu.Lock()
	seen := make(map[string]time.Time, len(eps))
	for _, e := range eps {
		if e.State != eice.DeleteInProgress {
			continue
		}
		first, ok := h.deleting[e.EndpointID]
		if !ok {
			first = now
		}
		seen[e.EndpointID] = first
		if now.Sub(first) >= bound {
			stale = append(stale, e.EndpointID)
		}
	}
	h.deleting = seen // forget those no longer being deleted
	h.mu.Unlock()
	n := 0
	var errs []error
	for _, id := range stale {
		done, err := h.finishDeletion(ctx, id, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if done {
			n++
			h.log.Info("finished an interrupted endpoint deletion", "endpoint", id)
		}
	}
	return n, errors.Join(errs...)
}

// finishDeletion completes the deletion of an endpoint still in
// delete-in-progress: its network interfaces leave it, it reaches
// delete-complete at now, then its agents' links close. It reports whether it
// completed it (false when it was no longer being deleted).
func (h *Endpoints) finishDeletion(ctx context.Context, endpointID string, now time.Time) (bool, error) {
	done := false
	err := h.update(ctx, endpointID, func(e *store.Endpoint) (bool, error) {
		done = false // update may run this again after a serialization failure
		if e.State != eice.DeleteInProgress || !eice.CanTransition(e.State, eice.DeleteComplete) {
			return false, nil
		}
		e.NetworkInterfaceIDs = []string{}
		e.State, e.DeletedAt = eice.DeleteComplete, now.UTC().Truncate(time.Millisecond)
		done = true
		return true, nil
	})
	if err != nil {
		return false, fmt.Errorf("endpoints: finish deletion of %s: %w", endpointID, err)
	}
	h.mu.Lock()
	delete(h.deleting, endpointID)
	h.mu.Unlock()
	// After the store says delete-complete, so that no agent can rejoin.
	if l := h.getLinks(); done && l != nil {
		l.DisconnectEndpoint(endpointID, "The instance connect endpoint was deleted")
	}
	return done, nil
}

// Revoke revokes agent a for good at time now, on behalf of by (an ARN):
// once ctx's transaction commits its link and tunnels close, and its
// network interface leaves its endpoint (completing a deletion in
// progress when it was the last).
func (h *Endpoints) Revoke(ctx context.Context, a store.Agent, by string, now time.Time) error {
	if err := h.st.RevokeAgent(ctx, a.AgentID, now); err != nil {
		return fmt.Errorf("endpoints: revoke agent %s: %w", a.AgentID, err)
	}
	if l := h.getLinks(); l != nil {
		// Once the revocation is committed (the call's transaction), so
		// that the agent cannot reconnect before it is on record.
		store.AfterCommit(ctx, func() { l.Disconnect(a.AgentID, true, "the endpoint agent "+a.AgentID+" was revoked by "+by) })
	}
	if err := h.AgentLeft(ctx, a.EndpointID, a.AgentID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("endpoints: remove agent %s from its endpoint: %w", a.AgentID, err)
	}
	return nil
}

// SyncDNSNames sets every live endpoint's dnsName to name (the server's
// public host, with its port when that is not 443), so that endpoints
// follow a change of address. It returns how many changed.
func (h *Endpoints) SyncDNSNames(ctx context.Context, name string) (int, error) {
	n := 0
	err := h.st.InTx(ctx, func(tx store.Repo) error {
		n = 0 // InTx may run this again after a serialization failure
		eps, err := tx.ListEndpoints(ctx)
		if err != nil {
			return err
		}
		for _, e := range eps {
			if e.DNSName == name || Gone(e.State) {
				continue
			}
			e.DNSName, e.FipsDNSName = name, name
			if err := tx.UpdateEndpoint(ctx, e); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
