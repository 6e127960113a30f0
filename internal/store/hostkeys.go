package store

import (
	"context"
	"time"
)

// HostKeyPin is the SSH host key the console's terminal trusts for one
// instance: pinned when a person first accepted it, checked on every
// later connection, removed only by an operator's reset.
type HostKeyPin struct {
	InstanceID  string // i-…, unique
	HostKey     string // authorized_keys form: "ssh-ed25519 AAAA…"
	Fingerprint string // SHA256:… as ssh-keygen -l prints it
	PinnedBy    string // ARN of the principal who accepted it
	PinnedAt    time.Time
}

// HostKeys is the repository of pinned SSH host keys.
type HostKeys interface {
	// GetHostKeyPin returns ErrNotFound when the instance has no pin.
	GetHostKeyPin(ctx context.Context, instanceID string) (HostKeyPin, error)
	// PutHostKeyPin stores a pin; ErrConflict when the instance has one
	// (the first accepted key stays; a reset must delete it first).
	PutHostKeyPin(ctx context.Context, p HostKeyPin) error
	// DeleteHostKeyPin removes an instance's pin; ErrNotFound when it has
	// none.
	DeleteHostKeyPin(ctx context.Context, instanceID string) error
}
