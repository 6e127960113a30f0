package sqlstore

import (
	"context"
	"time"

	"github.com/postern/postern/internal/store"
)

// CreateSession implements store.Sessions. It returns store.ErrConflict if
// the access key id exists. Sessions do not reference their role: deleting
// the role leaves them in place until they expire (authentication refuses
// them, as it finds no role with their RoleID).
func (r *repo) CreateSession(ctx context.Context, s store.Session) error {
	tags, err := encodeTags(s.Federation.Tags)
	if err != nil {
		return r.fail(err, "create session %q", s.AccessKeyID)
	}
	err = r.update(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.s.q.insertSession,
			s.AccessKeyID, blob(s.SecretSealed), blob(s.SessionTokenHash), s.RoleName, s.RoleARN, s.RoleID,
			s.SessionName, s.SourceUserARN, s.SourceIP, toMicros(s.Expiration), toMicros(s.CreateDate),
			s.UserID, boolInt(s.MFAAuthenticated), optMicros(s.AuthTime),
			s.Federation.Provider, s.Federation.Subject, s.Federation.Audience, s.Federation.SourceIdentity, tags)
		return err
	})
	return r.fail(err, "create session %q", s.AccessKeyID)
}

// GetSession implements store.Sessions. Expired sessions are returned
// until DeleteExpiredSessions removes them; the caller checks Expiration.
func (r *repo) GetSession(ctx context.Context, accessKeyID string) (store.Session, error) {
	var (
		s               store.Session
		ex, cd, mfa, at int64
		tags            string
	)
	err := r.read().QueryRowContext(ctx, r.s.q.getSession, accessKeyID).Scan(
		&s.AccessKeyID, &s.SecretSealed, &s.SessionTokenHash, &s.RoleName, &s.RoleARN, &s.RoleID,
		&s.SessionName, &s.SourceUserARN, &s.SourceIP, &ex, &cd, &s.UserID, &mfa, &at,
		&s.Federation.Provider, &s.Federation.Subject, &s.Federation.Audience, &s.Federation.SourceIdentity, &tags)
	if err != nil {
		return store.Session{}, r.fail(err, "get session %q", accessKeyID)
	}
	s.Expiration, s.CreateDate = fromMicros(ex), fromMicros(cd)
	s.MFAAuthenticated, s.AuthTime = mfa != 0, fromOptMicros(at)
	if s.Federation.Tags, err = decodeTags(tags); err != nil {
		return store.Session{}, r.fail(err, "get session %q", accessKeyID)
	}
	return s, nil
}

// DeleteSession implements store.Sessions (sign-out).
func (r *repo) DeleteSession(ctx context.Context, accessKeyID string) error {
	err := r.update(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.s.q.deleteSession, accessKeyID))
	})
	return r.fail(err, "delete session %q", accessKeyID)
}

// DeleteExpiredSessions implements store.Sessions: it removes the sessions
// whose Expiration is strictly before the given time.
func (r *repo) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := r.update(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, r.s.q.deleteExpiredSessions, toMicros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, r.fail(err, "delete sessions expired before %s", before.UTC().Format(time.RFC3339))
	}
	return int(n), nil
}
