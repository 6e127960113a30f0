package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/postern/postern/internal/store"
)

// The pinned SSH host keys (store.HostKeys). Schema: migration 0009.
// Writes do not count as changes (no reader caches them).

// GetHostKeyPin implements store.HostKeys.
func (r *repo) GetHostKeyPin(ctx context.Context, instanceID string) (store.HostKeyPin, error) {
	var p store.HostKeyPin
	var pinned int64
	err := r.read().QueryRowContext(ctx, r.q("SELECT instance_id, host_key, fingerprint, pinned_by, pinned_at FROM host_key_pins WHERE instance_id = ?"),
		instanceID).Scan(&p.InstanceID, &p.HostKey, &p.Fingerprint, &p.PinnedBy, &pinned)
	if errors.Is(err, sql.ErrNoRows) {
		err = notFound("host key pin of %s", instanceID)
	}
	if err != nil {
		return store.HostKeyPin{}, r.fail(err, "get host key pin of %s", instanceID)
	}
	p.PinnedAt = fromMicros(pinned)
	return p, nil
}

// PutHostKeyPin implements store.HostKeys.
func (r *repo) PutHostKeyPin(ctx context.Context, p store.HostKeyPin) error {
	err := r.writeQuiet(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO host_key_pins (instance_id, host_key, fingerprint, pinned_by, pinned_at) VALUES (?, ?, ?, ?, ?)"),
			p.InstanceID, p.HostKey, p.Fingerprint, p.PinnedBy, toMicros(p.PinnedAt))
		return err
	})
	return r.fail(err, "pin host key of %s", p.InstanceID)
}

// DeleteHostKeyPin implements store.HostKeys.
func (r *repo) DeleteHostKeyPin(ctx context.Context, instanceID string) error {
	err := r.writeQuiet(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM host_key_pins WHERE instance_id = ?"), instanceID))
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound("host key pin of %s", instanceID)
	}
	return r.fail(err, "delete host key pin of %s", instanceID)
}
