package server

import (
	"context"
	"time"

	"github.com/postern/postern/internal/server/endpoints"
)

// sweepInterval is how often the server deletes records that expired.
const sweepInterval = 10 * time.Minute

// sessionKeep is how long the sweep keeps a role session after it
// expired: until then its callers are told ExpiredToken (and refresh),
// not that their token is unknown.
const sessionKeep = 24 * time.Hour

// presignUseKeep is how long the sweep keeps a presigned URL's first use
// after the URL expired. Each replica judges a URL's expiry by its own
// clock: were a replica whose clock runs ahead to delete the use at its
// "now", a replica whose clock runs behind would still take the URL as
// live and accept its replay as a new first use. Kept this long, clocks
// may differ by up to SigV4's own tolerance (15 minutes) without that.
const presignUseKeep = 15 * time.Minute

// sweep deletes, every sweepInterval until stop closes, what expired:
// pushed SSH keys, presigned-URL uses presignUseKeep after their URLs
// expired (by then no replica's clock takes the URLs as live),
// join tokens a day after their expiry (kept a while for operators) and
// role sessions sessionKeep after theirs, and browser terminal recordings
// past console.recording_retention_days. It also finishes endpoint
// deletions a server left in delete-in-progress (it stopped in the
// middle): those this server has seen so for endpoints.StaleDeletion or longer.
// Audit events are never deleted here.
func (s *Server) sweep(stop <-chan struct{}) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s.sweepOnce(ctx, time.Now())
		cancel()
	}
}

// sweepOnce deletes what expired by now; see sweep.
func (s *Server) sweepOnce(ctx context.Context, now time.Time) {
	keys, err1 := s.Store.DeleteExpiredPushedKeys(ctx, now)
	uses, err2 := s.Store.DeleteExpiredPresignUses(ctx, now.Add(-presignUseKeep))
	toks, err3 := s.Store.DeleteExpiredJoinTokens(ctx, now.Add(-24*time.Hour))
	sess, err4 := s.Store.DeleteExpiredSessions(ctx, now.Add(-sessionKeep))
	recs, err5 := s.console.SweepRecordings(now)
	var dels int
	var err6 error
	if s.endpoints != nil {
		dels, err6 = s.endpoints.FinishStaleDeletions(ctx, now, endpoints.StaleDeletion)
	}
	for _, err := range []error{err1, err2, err3, err4, err5, err6} {
		if err != nil {
			s.logger.Warn("sweeping expired records", "error", err)
		}
	}
	if keys+uses+toks+sess+recs+dels > 0 {
		s.logger.Debug("swept expired records", "pushed_keys", keys, "presign_uses", uses, "join_tokens", toks, "role_sessions", sess, "recordings", recs, "endpoint_deletions", dels)
	}
}
