package sqlstore

import (
	"context"
	"time"

	"github.com/postern/postern/internal/store"
)

// The pushed SSH keys (store.SSHKeys). Schema: migration 0005. Writes do
// not count as changes (no reader caches them).

const pushedKeyCols = "key_id, instance_id, os_user, public_key, caller_arn, request_id, created_at, expires_at, signature"

// PutPushedKey implements store.SSHKeys.
func (r *repo) PutPushedKey(ctx context.Context, k store.PushedKey) error {
	err := r.writeQuiet(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO pushed_keys ("+pushedKeyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			k.KeyID, k.InstanceID, k.OSUser, k.PublicKey, k.CallerARN, k.RequestID, toMicros(k.CreatedAt), toMicros(k.ExpiresAt), k.Signature)
		return err
	})
	return r.fail(err, "put pushed key %s", k.KeyID)
}

// ListPushedKeys implements store.SSHKeys.
func (r *repo) ListPushedKeys(ctx context.Context, instanceID, osUser string, now time.Time) ([]store.PushedKey, error) {
	rows, err := r.read().QueryContext(ctx, r.q("SELECT "+pushedKeyCols+" FROM pushed_keys WHERE instance_id = ? AND os_user = ?"+
		" AND expires_at > ? ORDER BY created_at, key_id"), instanceID, osUser, toMicros(now))
	if err != nil {
		return nil, r.fail(err, "list pushed keys of %s", instanceID)
	}
	defer rows.Close()
	var out []store.PushedKey
	for rows.Next() {
		var k store.PushedKey
		var created, expires int64
		if err := rows.Scan(&k.KeyID, &k.InstanceID, &k.OSUser, &k.PublicKey, &k.CallerARN, &k.RequestID, &created, &expires, &k.Signature); err != nil {
			return nil, r.fail(err, "list pushed keys of %s", instanceID)
		}
		k.CreatedAt, k.ExpiresAt = fromMicros(created), fromMicros(expires)
		out = append(out, k)
	}
	return out, r.fail(rows.Err(), "list pushed keys of %s", instanceID)
}

// DeleteExpiredPushedKeys implements store.SSHKeys.
func (r *repo) DeleteExpiredPushedKeys(ctx context.Context, before time.Time) (int, error) {
	return r.deleteBefore(ctx, "pushed_keys", "expires_at", before)
}
