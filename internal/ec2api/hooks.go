package ec2api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/postern/postern/internal/eice"
	"github.com/postern/postern/internal/store"
)

// ErrInvalidTransition is returned (wrapped) by the Endpoints hooks when
// the endpoint's state does not allow the change (package eice).
var ErrInvalidTransition = errors.New("ec2api: endpoint state does not allow this transition")

// Endpoints moves Instance Connect Endpoints through their life cycle on
// behalf of the tunnel side: an agent that serves an endpoint joins and
// leaves it, identified by a network-interface id (shown in the
// endpoint's networkInterfaceIdSet). Every change runs in one store
// transaction and is checked with eice.CanTransition. Endpoints is safe
// for concurrent use.
//
// The tunnel side should also watch for endpoints in delete-in-progress
// (a DeleteInstanceConnectEndpoint while agents were connected),
// disconnect their agents and call AgentLeft; the last one to leave
// completes the deletion.
type Endpoints struct {
	st  store.Store
	now func() time.Time
}

// NewEndpoints returns the endpoint hooks over cfg's store and clock (the
// same Config as NewEC2).
func NewEndpoints(cfg Config) (*Endpoints, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Endpoints{st: cfg.Store, now: cfg.Now}, nil
}

// update runs fn on the endpoint inside a transaction and stores the
// result if fn reports a change.
func (h *Endpoints) update(ctx context.Context, endpointID string, fn func(e *store.Endpoint) (changed bool, err error)) error {
	return h.st.InTx(ctx, func(tx store.Repo) error {
		e, err := tx.GetEndpoint(ctx, endpointID)
		if err != nil {
			return fmt.Errorf("ec2api: get endpoint %s: %w", endpointID, err)
		}
		changed, err := fn(&e)
		if err != nil || !changed {
			return err
		}
		if err := tx.UpdateEndpoint(ctx, e); err != nil {
			return fmt.Errorf("ec2api: update endpoint %s: %w", endpointID, err)
		}
		return nil
	})
}

// AgentJoined records that an agent serves the endpoint through the
// network interface eniID (added to networkInterfaceIdSet once) and moves
// a create-in-progress endpoint to create-complete. Agents may join
// endpoints that are usable (eice.Usable) or still being created; for any
// other state it returns an error wrapping ErrInvalidTransition. An
// unknown endpoint is an error wrapping store.ErrNotFound.
func (h *Endpoints) AgentJoined(ctx context.Context, endpointID, eniID string) error {
	if eniID == "" {
		return errors.New("ec2api: AgentJoined needs a network interface id")
	}
	return h.update(ctx, endpointID, func(e *store.Endpoint) (bool, error) {
		return agentJoined(e, endpointID, eniID)
	})
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
