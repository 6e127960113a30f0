package server

import (
	"crypto/sha256"
	"log/slog"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// TestSweepKeepsPresignUsesForSkewedReplicas: the sweep deletes a
// presigned URL's first use only presignUseKeep after the URL expired, so
// that a replica whose clock runs behind the sweeping one's still refuses
// the URL's replay (a deleted use would make the replay a new first use).
func TestSweepKeepsPresignUsesForSkewedReplicas(t *testing.T) {
	ctx := t.Context()
	st := sqlitetest.Open(t)
	now := time.Now().UTC().Truncate(time.Second)
	uses := []struct {
		name    string
		expires time.Time
		kept    bool
	}{
		{"live", now.Add(time.Minute), true},
		{"just expired", now.Add(-time.Second), true},
		{"expired within the keep", now.Add(-presignUseKeep + time.Minute), true},
		{"expired before the keep", now.Add(-presignUseKeep - time.Minute), false},
	}
	hash := func(name string) []byte { h := sha256.Sum256([]byte(name)); return h[:] }
	for _, u := range uses {
		if _, _, err := st.RecordPresignUse(ctx, store.PresignUse{SignatureHash: hash(u.name), SourceIP: "192.0.2.1",
			FirstUsedAt: u.expires.Add(-time.Minute), ExpiresAt: u.expires}); err != nil {
			t.Fatal(err)
		}
	}
	srv := &Server{Store: st, logger: slog.New(slog.DiscardHandler)}
	srv.sweepOnce(ctx, now)
	for _, u := range uses {
		_, isFirst, err := st.RecordPresignUse(ctx, store.PresignUse{SignatureHash: hash(u.name), SourceIP: "192.0.2.2",
			FirstUsedAt: now, ExpiresAt: u.expires})
		if err != nil {
			t.Fatal(err)
		}
		if kept := !isFirst; kept != u.kept {
			t.Errorf("%s (expires %v, swept at %v): kept %v, want %v", u.name, u.expires, now, kept, u.kept)
		}
	}
}
