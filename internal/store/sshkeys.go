package store

import (
	"context"
	"time"
)

// PushedKey is an SSH public key pushed with SendSSHPublicKey: valid for
// one OS user of one instance until ExpiresAt, signed by the server so
// that the instance helper can check it came from here.
type PushedKey struct {
	KeyID      string // unique, e.g. the request id
	InstanceID string
	OSUser     string
	PublicKey  string // authorized_keys form: "ssh-ed25519 AAAA…"
	CallerARN  string
	RequestID  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	Signature  []byte // the server's signature over the entry
}

// SSHKeys is the repository of pushed keys.
type SSHKeys interface {
	// PutPushedKey stores a key; ErrConflict when its id exists.
	PutPushedKey(ctx context.Context, k PushedKey) error
	// ListPushedKeys returns the keys of an instance's OS user that expire
	// after now, oldest first.
	ListPushedKeys(ctx context.Context, instanceID, osUser string, now time.Time) ([]PushedKey, error)
	// DeleteExpiredPushedKeys removes keys that expired before t.
	DeleteExpiredPushedKeys(ctx context.Context, before time.Time) (int, error)
}
