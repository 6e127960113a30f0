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

// Replicated is implemented by stores that several server processes may
// share (PostgreSQL): each process then runs as a replica, announces
// itself in the Replicas registry and tells the others when it joins or
// leaves. A store that does not implement it serves one process alone.
// Callers check it with a type assertion on the store, never on a
// backend's concrete type.
type Replicated interface {
	// NotifyReplicas tells every process on the store (this one
	// included) that the replica registry changed, so that they read it
	// now rather than at their next heartbeat.
	NotifyReplicas(ctx context.Context) error
	// ReplicasChanged receives a value when a process called
	// NotifyReplicas; several notices may arrive as one.
	ReplicasChanged() <-chan struct{}
}

// IsReplicated reports whether other server processes may share st.
func IsReplicated(st Store) bool {
	_, ok := st.(Replicated)
	return ok
}

// LiveTunnel is an open tunnel as the replica carrying it publishes it, so
// that every replica can list it and ask for it to end.
type LiveTunnel struct {
	TunnelID   string
	ReplicaID  string // the replica carrying it
	EndpointID string
	AgentID    string
	Principal  string // ARN of who opened it
	SourceIP   string
	Address    string // target address
	Port       int
	Started    time.Time
	Deadline   time.Time
	BytesIn    int64 // client → target, as of Updated
	BytesOut   int64 // target → client, as of Updated
	Updated    time.Time
	// TerminateMessage is set when a replica asked the carrying one to
	// end the tunnel; it is the close reason the client gets.
	TerminateMessage string
}

// LiveTunnels is the table of open tunnels that replicas sharing a
// database publish. Writes do not count as changes.
type LiveTunnels interface {
	// SyncLiveTunnels records a replica's tunnels in one transaction:
	// put are inserted or refreshed (bytes and Updated; a pending
	// termination request stays), gone are removed. It returns the
	// replica's tunnels that another replica asked to end.
	SyncLiveTunnels(ctx context.Context, replicaID string, put []LiveTunnel, gone []string) (terminate []LiveTunnel, err error)
	// ListLiveTunnels returns every published tunnel, oldest first.
	ListLiveTunnels(ctx context.Context) ([]LiveTunnel, error)
	// RequestTunnelTermination asks the replica carrying a tunnel to end
	// it with message; ErrNotFound when no replica publishes it.
	RequestTunnelTermination(ctx context.Context, tunnelID, message string) error
	// DeleteLiveTunnels removes the tunnels of replicas not in keep (the
	// replicas still running), except those still journalled as carried
	// by their replica (TunnelJournal: the recovered CloseTunnel reads
	// their byte counts and removes them with its record); it returns how
	// many it removed.
	DeleteLiveTunnels(ctx context.Context, keep []string) (int, error)
}
