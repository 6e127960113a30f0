package store

import (
	"context"
	"time"
)

// Replica is a running server replica, as it announces itself to the
// others and to agents (which keep a link to every replica).
type Replica struct {
	ReplicaID string
	Advertise string // host:port agents dial
	StartedAt time.Time
	LastSeen  time.Time
}

// Replicas is the registry of running replicas.
type Replicas interface {
	// PutReplica records or refreshes a replica (advertise address and
	// last-seen time; the start time is kept from the first record).
	PutReplica(ctx context.Context, r Replica) error
	// ListReplicas returns the replicas seen after a time, ordered by id.
	ListReplicas(ctx context.Context, seenAfter time.Time) ([]Replica, error)
	// DeleteReplica forgets a replica; an unknown id is not an error.
	DeleteReplica(ctx context.Context, replicaID string) error
}
