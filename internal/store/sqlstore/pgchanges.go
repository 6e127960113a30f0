package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// changesChannel is the PostgreSQL NOTIFY channel on which every counted
// write transaction announces itself (Store.notifyStmt). NOTIFY is
// transactional: the notice goes out at commit, and not at all on
// rollback.
const changesChannel = "postern_changes"

// replicasChannel is the NOTIFY channel on which a replica says that it
// joined or left, so that the others refresh their replica lists (and
// tell their agents) at once instead of at their next heartbeat.
const replicasChannel = "postern_replicas"

// feedApplicationName names the feed's connection in pg_stat_activity.
const feedApplicationName = "postern-changes"

// changeFeed counts the change notices of every process writing to the
// database, on a connection of its own that LISTENs to changesChannel.
// Its count only grows; while the connection is down (and until LISTEN is
// in place again) count returns a new value at every call, since changes
// may go unseen, and reconnecting adds one for the same reason.
type changeFeed struct {
	seen atomic.Uint64 // notices received, plus one per (re)connection
	// replicas gets a value (without blocking) for every notice on
	// replicasChannel.
	replicas chan struct{}
	down     atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// listenForChanges starts the feed on a connection made from cfg.
func listenForChanges(cfg *pgx.ConnConfig, log *slog.Logger) *changeFeed {
	ctx, cancel := context.WithCancel(context.Background())
	f := &changeFeed{cancel: cancel, replicas: make(chan struct{}, 1)}
	f.down.Store(true)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.run(ctx, cfg, log)
	}()
	return f
}

// count returns a number that changes whenever another process (or this
// one) committed a counted write since the last call could have seen.
func (f *changeFeed) count() uint64 {
	if f.down.Load() {
		return f.seen.Add(1)
	}
	return f.seen.Load()
}

func (f *changeFeed) close() {
	f.cancel()
	f.wg.Wait()
}

// Reconnection back-off bounds.
const (
	feedMinBackoff = 100 * time.Millisecond
	feedMaxBackoff = 5 * time.Second
)

func (f *changeFeed) run(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) {
	backoff := feedMinBackoff
	for ctx.Err() == nil {
		err := f.listen(ctx, cfg)
		if wasUp := !f.down.Swap(true); wasUp {
			backoff = feedMinBackoff
		}
		f.seen.Add(1)
		if ctx.Err() != nil {
			return
		}
		log.Warn("sqlstore: lost the change feed; caches are bypassed until it is back", "retry_in", backoff, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, feedMaxBackoff)
	}
}

// listen connects, LISTENs and counts notices until the connection fails
// or ctx ends.
func (f *changeFeed) listen(ctx context.Context, cfg *pgx.ConnConfig) error {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = feedApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel+"; LISTEN "+replicasChannel); err != nil {
		return err
	}
	// Anything committed before LISTEN took effect went unseen.
	f.seen.Add(1)
	f.down.Store(false)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == replicasChannel {
			select {
			case f.replicas <- struct{}{}:
			default: // one pending signal is enough
			}
			continue
		}
		f.seen.Add(1)
	}
}
