package endpoints

import (
	"errors"
	"fmt"

	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/store"
)

// The endpoint decisions the API edge and the tunnel front door ask for:
// the state a new endpoint starts in, how a modification moves it, and
// whether it may carry a tunnel.

// Why an endpoint may not carry a tunnel (TunnelRefusal).
var (
	// ErrEndpointGone: the endpoint is deleted (delete-complete); callers
	// answer as for an unknown endpoint.
	ErrEndpointGone = errors.New("endpoints: the endpoint is deleted")
	// ErrEndpointNotUsable: the endpoint's state does not accept tunnels
	// (eice.Usable).
	ErrEndpointNotUsable = errors.New("endpoints: the endpoint's state does not accept tunnels")
)

// InitialState is the state of a newly created endpoint: create-in-progress
// until its first agent joins (AgentJoined).
func InitialState() string { return eice.CreateInProgress }

// Gone reports whether an endpoint in state s is deleted for good
// (delete-complete): it is still listed for a while but otherwise
// answers as unknown.
func Gone(s string) bool { return s == eice.DeleteComplete }

// TunnelRefusal says whether the endpoint e may carry a tunnel: nil when
// it may, ErrEndpointGone when it is deleted, ErrEndpointNotUsable when
// its state does not accept tunnels.
func TunnelRefusal(e store.Endpoint) error {
	switch {
	case Gone(e.State):
		return ErrEndpointGone
	case !eice.Usable(e.State):
		return fmt.Errorf("%w: %s is %s", ErrEndpointNotUsable, e.EndpointID, e.State)
	}
	return nil
}

// Modify applies ModifyInstanceConnectEndpoint to the endpoint record e
// (read in the caller's transaction): the endpoint passes through
// update-in-progress, apply changes its configuration, and it ends in
// update-complete (Postern applies the new configuration at once). A
// state that cannot be modified is an error wrapping ErrInvalidTransition,
// and e is left as it was. The caller stores e.
func Modify(e *store.Endpoint, apply func(e *store.Endpoint)) error {
	if !eice.CanTransition(e.State, eice.UpdateInProgress) || !eice.CanTransition(eice.UpdateInProgress, eice.UpdateComplete) {
		return fmt.Errorf("%w: %s → %s", ErrInvalidTransition, e.State, eice.UpdateInProgress)
	}
	apply(e)
	e.State, e.StateMessage = eice.UpdateComplete, ""
	return nil
}
