package sqlstore

import (
	"context"
	"fmt"

	"github.com/postern/postern/internal/store"
)

// checkStatus rejects anything but store.KeyActive and store.KeyInactive.
func checkStatus(status string) error {
	if status != store.KeyActive && status != store.KeyInactive {
		return fmt.Errorf("invalid access key status %q", status)
	}
	return nil
}

// CreateAccessKey implements store.AccessKeys.
func (r *repo) CreateAccessKey(ctx context.Context, k store.AccessKey) error {
	err := checkStatus(k.Status)
	if err == nil {
		err = r.update(ctx, func(q querier) error {
			uid, _, err := r.lookupOwner(ctx, q, store.KindUser, k.UserName)
			if err != nil {
				return err
			}
			_, err = q.ExecContext(ctx, r.s.q.insertAccessKey,
				k.AccessKeyID, uid, blob(k.SecretSealed), k.Status, toMicros(k.CreateDate))
			return err
		})
	}
	return r.fail(err, "create access key %q for user %q", k.AccessKeyID, k.UserName)
}

// GetAccessKey implements store.AccessKeys. UserName is the user's name as
// created; UserID the owner's id.
func (r *repo) GetAccessKey(ctx context.Context, accessKeyID string) (store.AccessKey, error) {
	k, err := scanAccessKey(r.read().QueryRowContext(ctx, r.s.q.getAccessKey, accessKeyID))
	if err != nil {
		return store.AccessKey{}, r.fail(err, "get access key %q", accessKeyID)
	}
	return k, nil
}

// ListAccessKeys implements store.AccessKeys. It returns store.ErrNotFound
// if the user does not exist.
func (r *repo) ListAccessKeys(ctx context.Context, userName string) ([]store.AccessKey, error) {
	var out []store.AccessKey
	err := r.view(ctx, func(q querier) error {
		uid, _, err := r.lookupOwner(ctx, q, store.KindUser, userName)
		if err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, r.s.q.listAccessKeys, uid)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanAccessKey(rows)
			if err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, r.fail(err, "list access keys of user %q", userName)
	}
	return out, nil
}

// UpdateAccessKeyStatus implements store.AccessKeys.
func (r *repo) UpdateAccessKeyStatus(ctx context.Context, accessKeyID, status string) error {
	err := checkStatus(status)
	if err == nil {
		err = r.update(ctx, func(q querier) error {
			return mustAffect(q.ExecContext(ctx, r.s.q.updateAccessKeyStatus, status, accessKeyID))
		})
	}
	return r.fail(err, "update access key %q to %q", accessKeyID, status)
}

// DeleteAccessKey implements store.AccessKeys.
func (r *repo) DeleteAccessKey(ctx context.Context, accessKeyID string) error {
	err := r.update(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.s.q.deleteAccessKey, accessKeyID))
	})
	return r.fail(err, "delete access key %q", accessKeyID)
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanAccessKey(sc scanner) (store.AccessKey, error) {
	var (
		k  store.AccessKey
		cd int64
	)
	if err := sc.Scan(&k.AccessKeyID, &k.UserName, &k.UserID, &k.SecretSealed, &k.Status, &cd); err != nil {
		return store.AccessKey{}, err
	}
	k.CreateDate = fromMicros(cd)
	return k, nil
}
