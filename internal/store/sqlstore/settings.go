package sqlstore

import "context"

// GetSetting implements store.Settings.
func (r *repo) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := r.read().QueryRowContext(ctx, r.s.q.getSetting, key).Scan(&v)
	if err != nil {
		return "", r.fail(err, "get setting %q", key)
	}
	return v, nil
}

// PutSetting implements store.Settings.
func (r *repo) PutSetting(ctx context.Context, key, value string) error {
	err := r.update(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.s.q.putSetting, key, value)
		return err
	})
	return r.fail(err, "put setting %q", key)
}
