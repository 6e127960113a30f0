package server

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// TestSweepDeletesExpiredSessions: the periodic sweep deletes role
// sessions that expired more than sessionKeep ago, and keeps those that
// expired since (their callers still get ExpiredToken) and live ones.
func TestSweepDeletesExpiredSessions(t *testing.T) {
	ctx := t.Context()
	st := sqlitetest.Open(t)
	now := time.Now().UTC().Truncate(time.Second)
	sessions := []struct {
		akid    string
		expires time.Time
		kept    bool
	}{
		{"ASIAOLDOLDOLDOLDOLD1", now.Add(-sessionKeep - time.Minute), false},
		{"ASIAOLDOLDOLDOLDOLD2", now.Add(-30 * 24 * time.Hour), false},
		{"ASIARECENTRECENTREC1", now.Add(-sessionKeep + time.Minute), true},
		{"ASIAJUSTEXPIREDJUST1", now.Add(-time.Second), true},
		{"ASIALIVELIVELIVELIV1", now.Add(time.Hour), true},
	}
	for _, s := range sessions {
		err := st.CreateSession(ctx, store.Session{AccessKeyID: s.akid, SecretSealed: []byte("sealed"), SessionTokenHash: []byte("hash"),
			RoleName: "ops", RoleARN: "arn:aws:iam::123456789012:role/ops", RoleID: "AROAAAAAAAAAAAAAAAAAB", SessionName: "s1",
			SourceUserARN: "arn:aws:iam::123456789012:user/bob", SourceIP: "127.0.0.1", Expiration: s.expires, CreateDate: s.expires.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := &Server{Store: st, logger: slog.New(slog.DiscardHandler)}
	srv.sweepOnce(ctx, now)
	for _, s := range sessions {
		_, err := st.GetSession(ctx, s.akid)
		switch {
		case s.kept && err != nil:
			t.Errorf("session %s (expires %v) was deleted: %v", s.akid, s.expires, err)
		case !s.kept && !errors.Is(err, store.ErrNotFound):
			t.Errorf("session %s (expires %v) was kept: %v", s.akid, s.expires, err)
		}
	}
}
