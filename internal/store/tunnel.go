package store

import (
	"context"
	"time"
)

// Tunnels groups the repositories of the tunnel side: the endpoint agents
// and their join tokens, the replay guard of presigned openTunnel URLs, and
// the audit trail.
type Tunnels interface {
	Agents
	JoinTokens
	PresignUses
	Events
}

// Agent is an endpoint agent: a process inside a private network that
// serves one Instance Connect Endpoint. Its id is the network-interface id
// (eni-…) that the endpoint lists in networkInterfaceIdSet while the agent
// is connected.
type Agent struct {
	AgentID    string // eni-…, unique
	EndpointID string // eice-…
	Name       string // what the agent calls itself (its host name by default)
	// KeyFingerprint is the hex SHA-256 of the agent's public key
	// (PKIX DER); unique. The agent proves it holds the key on every
	// connection (TLS client certificate).
	KeyFingerprint string
	CreatedAt      time.Time
	CreatedBy      string // ARN of the principal who made the join token
	// RevokedAt is set when an operator revoked the agent; a revoked
	// agent can never connect again.
	RevokedAt time.Time
	// Last connection, updated when the agent connects.
	LastAddress     string
	LastVersion     string
	LastConnectedAt time.Time
}

// Agents is the endpoint-agent repository.
type Agents interface {
	// CreateAgent returns ErrConflict when the id or key fingerprint exists.
	CreateAgent(ctx context.Context, a Agent) error
	GetAgent(ctx context.Context, agentID string) (Agent, error)
	// GetAgentByKey looks an agent up by its key fingerprint.
	GetAgentByKey(ctx context.Context, fingerprint string) (Agent, error)
	// ListAgents returns the agents of an endpoint ("" for all), ordered
	// by id, revoked ones included.
	ListAgents(ctx context.Context, endpointID string) ([]Agent, error)
	// UpdateAgentConnection records a connection (address, version, time).
	UpdateAgentConnection(ctx context.Context, agentID, address, version string, at time.Time) error
	// RevokeAgent sets RevokedAt; revoking twice keeps the first time.
	RevokeAgent(ctx context.Context, agentID string, at time.Time) error
}

// JoinToken lets one agent join one endpoint, once, before it expires.
// Only a hash of the token's secret is stored.
type JoinToken struct {
	TokenHash  []byte // SHA-256 of the secret; unique
	TokenID    string // "ejt-…", shown to operators; unique
	EndpointID string
	CreatedBy  string // ARN
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time // zero until redeemed
	UsedBy     string    // the agent id that redeemed it
}

// JoinTokens is the join-token repository.
type JoinTokens interface {
	CreateJoinToken(ctx context.Context, t JoinToken) error
	// RedeemJoinToken marks the token with this hash used by agentID at
	// time at and returns it, atomically: of two concurrent redemptions
	// exactly one succeeds. A token that does not exist, was used or has
	// expired (ExpiresAt not after at) is ErrNotFound.
	RedeemJoinToken(ctx context.Context, tokenHash []byte, agentID string, at time.Time) (JoinToken, error)
	// ListJoinTokens returns an endpoint's tokens ("" for all) by creation.
	ListJoinTokens(ctx context.Context, endpointID string) ([]JoinToken, error)
	// DeleteExpiredJoinTokens removes tokens that expired before t.
	DeleteExpiredJoinTokens(ctx context.Context, before time.Time) (int, error)
}

// PresignUse records the first use of a presigned URL, identified by a
// hash of its signature, for replay protection.
type PresignUse struct {
	SignatureHash []byte // SHA-256 of the URL's X-Amz-Signature; unique
	SourceIP      string // the address that used it first
	FirstUsedAt   time.Time
	ExpiresAt     time.Time // when the URL itself expires; the record may go then
}

// PresignUses is the presigned-URL replay guard.
type PresignUses interface {
	// RecordPresignUse stores u unless a record with the same signature
	// hash exists, and returns the stored record (u, or the earlier one)
	// and whether u was the first use. Concurrent calls with one hash
	// agree on a single first use.
	RecordPresignUse(ctx context.Context, u PresignUse) (first PresignUse, isFirst bool, err error)
	// DeleteExpiredPresignUses removes records whose URL expired before t.
	DeleteExpiredPresignUses(ctx context.Context, before time.Time) (int, error)
}

// UnsyncedPresignUses is a replay guard that can record a first use
// without waiting for the disk (sqlstore: SQLite and PostgreSQL).
type UnsyncedPresignUses interface {
	// RecordPresignUseUnsynced is RecordPresignUse, except that it returns
	// once the record is committed and visible to every later call, not
	// once it is on disk: it survives a crash of this process, and is on
	// disk once any later durable commit of the store (AppendEvents, …)
	// returned, and within a bounded time otherwise. Use it only where a
	// durable commit always follows before anything depends on the record
	// surviving a machine crash (the front door: the attempt's record).
	RecordPresignUseUnsynced(ctx context.Context, u PresignUse) (first PresignUse, isFirst bool, err error)
}

// Event is one audit record: a CloudTrail-shaped JSON document (Body) plus
// the fields that lookups filter on.
type Event struct {
	EventID      string // uuid, unique
	EventTime    time.Time
	EventSource  string // e.g. ec2-instance-connect.amazonaws.com
	EventName    string // e.g. OpenTunnel, CloseTunnel
	ReadOnly     bool
	Username     string
	AccessKeyID  string
	ResourceType string // e.g. AWS::EC2::InstanceConnectEndpoint
	ResourceName string // e.g. the endpoint id
	ErrorCode    string // "" when allowed
	TunnelID     string // links a tunnel's OpenTunnel and CloseTunnel events
	RequestID    string
	Body         string // the full record, JSON
}

// EventQuery selects events for ListEvents, newest first. Empty fields do
// not restrict.
type EventQuery struct {
	EventName string
	TunnelID  string
	Since     time.Time // EventTime at or after
	Until     time.Time // EventTime before
	Limit     int       // 0: all
	// CloudTrail's lookup attributes.
	EventID      string
	EventSource  string
	Username     string
	AccessKeyID  string
	ResourceType string
	ResourceName string
	ReadOnly     *bool
	// After continues a listing after the event with this time and id
	// (the last of the previous page): only older events come.
	AfterTime time.Time
	AfterID   string
}

// Events is the append-only audit trail.
type Events interface {
	// AppendEvent stores e; ErrConflict when its id exists. When it
	// returns nil the event is committed (durable).
	AppendEvent(ctx context.Context, e Event) error
	// AppendEvents stores several events in one transaction: all or none
	// (ErrConflict when an id exists).
	AppendEvents(ctx context.Context, evs []Event) error
	// ListEvents returns the events q selects, newest first.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
}
