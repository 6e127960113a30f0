// Package eice is the life cycle of an EC2 Instance Connect Endpoint: its
// nine states, as AWS names them, and the transitions Postern allows
// between them. The package is pure: no I/O, no AWS error codes. Package
// endpoints, which owns the endpoints' life cycle, applies it to stored
// endpoints; the API edge (package ec2api) and the tunnel front door read
// it to decide what an endpoint may do next.
//
// The states and the allowed transitions:
//
//	create-in-progress → create-complete | create-failed | delete-in-progress
//	create-complete    → update-in-progress | delete-in-progress
//	update-in-progress → update-complete | update-failed
//	update-complete    → update-in-progress | delete-in-progress
//	update-failed      → update-in-progress | delete-in-progress
//	create-failed      → delete-in-progress
//	delete-in-progress → delete-complete | delete-failed
//	delete-failed      → delete-in-progress
//	delete-complete    (final)
package eice

// The endpoint states (the EC2 model's Ec2InstanceConnectEndpointState).
const (
	// CreateInProgress is the state of a new endpoint until its agent
	// joins (console "Pending").
	CreateInProgress = "create-in-progress"
	// CreateComplete is a usable endpoint (console "Available").
	CreateComplete = "create-complete"
	// CreateFailed is an endpoint that never became usable; it can only
	// be deleted.
	CreateFailed = "create-failed"
	// DeleteInProgress is an endpoint being deleted.
	DeleteInProgress = "delete-in-progress"
	// DeleteComplete is a deleted endpoint, still listed for a while.
	DeleteComplete = "delete-complete"
	// DeleteFailed is an endpoint whose deletion failed; deleting it
	// again is allowed.
	DeleteFailed = "delete-failed"
	// UpdateInProgress is an endpoint being modified; it keeps serving
	// with its old configuration meanwhile.
	UpdateInProgress = "update-in-progress"
	// UpdateComplete is a usable endpoint after a modification.
	UpdateComplete = "update-complete"
	// UpdateFailed is a usable endpoint whose last modification failed; it
	// keeps its previous configuration.
	UpdateFailed = "update-failed"
)

// States lists every state, in the EC2 model's order.
var States = []string{
	CreateInProgress, CreateComplete, CreateFailed,
	DeleteInProgress, DeleteComplete, DeleteFailed,
	UpdateInProgress, UpdateComplete, UpdateFailed,
}

// transitions maps each state to the states it may move to.
var transitions = map[string][]string{
	CreateInProgress: {CreateComplete, CreateFailed, DeleteInProgress},
	CreateComplete:   {UpdateInProgress, DeleteInProgress},
	UpdateInProgress: {UpdateComplete, UpdateFailed},
	UpdateComplete:   {UpdateInProgress, DeleteInProgress},
	UpdateFailed:     {UpdateInProgress, DeleteInProgress},
	CreateFailed:     {DeleteInProgress},
	DeleteInProgress: {DeleteComplete, DeleteFailed},
	DeleteFailed:     {DeleteInProgress},
	DeleteComplete:   nil,
}

// Valid reports whether s is one of the nine states.
func Valid(s string) bool {
	_, ok := transitions[s]
	return ok
}

// CanTransition reports whether an endpoint in state from may move to
// state to. Staying in the same state is not a transition; unknown states
// never transition.
func CanTransition(from, to string) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Usable reports whether an endpoint in state s accepts tunnels:
// create-complete and the update-* states (an endpoint being modified keeps
// serving with its previous configuration). These are the states the AWS
// CLI's endpoint lookup asks for.
func Usable(s string) bool {
	switch s {
	case CreateComplete, UpdateInProgress, UpdateComplete, UpdateFailed:
		return true
	}
	return false
}

// Deletable reports whether DeleteInstanceConnectEndpoint may start from
// state s.
func Deletable(s string) bool { return CanTransition(s, DeleteInProgress) }

// Modifiable reports whether ModifyInstanceConnectEndpoint may start from
// state s.
func Modifiable(s string) bool { return CanTransition(s, UpdateInProgress) }
