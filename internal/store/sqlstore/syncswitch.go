package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// One write connection, its synchronous switched per transaction.
//
// With SQLite, synchronous=FULL and one writer (the defaults), the durable
// commits (the writer's transactions and durable group commits: OpenTunnel
// and every other audit record, the write API calls) and the unsynced ones
// (unsynced.go: CloseTunnel records, the read-only records, the replay
// guard) run on the same one write connection, which is switched to
// PRAGMA synchronous=NORMAL for an unsynced commit and back to FULL for a
// durable one. Two connections that took turns made SQLite drop each
// one's page cache whenever the other had committed (each sequential
// tunnel open read ~21 pages back from the write-ahead log); one
// connection keeps its cache. A durable commit stays SQLite's own FULL
// commit: the log is synced before the commit is published in the
// wal-index (invisible to readers until then), and a failed sync fails
// the COMMIT, which is rolled back.
//
// The switch runs only when the mode changes (a durable commit after a
// durable one runs no PRAGMA), outside any transaction (SQLite refuses to
// change the safety level inside one), while its caller holds the write
// queue's one turn (writeGate), which is what guards normal. The PRAGMA is
// run unprepared each time: SQLite applies PRAGMA synchronous=X while it
// compiles the statement (pragma.c, PragTyp_SYNCHRONOUS), and the
// compiled program does nothing, so a prepared statement run again would
// not switch at all, and one that database/sql prepared again on a new
// connection would switch that connection behind the Store's back.
//
// normal is set before the PRAGMA that switches to NORMAL runs and
// cleared only after the PRAGMA that switches to FULL returned: whatever
// fails or panics in between (a PRAGMA, a statement, the caller's
// context), the next durable commit switches to FULL first, and a
// durable commit whose switch failed does not begin. A connection
// database/sql opens anew starts at FULL (the DSN's _synchronous), so
// normal can only err towards a needless switch, never towards a durable
// commit at NORMAL.
type syncSwitch struct {
	db *sql.DB // the write pool: its one connection

	// normal: the connection may be at synchronous=NORMAL. Guarded by
	// the write turn.
	normal bool
	// onSwitch, when set (tests), runs before each switch's PRAGMA; an
	// error fails the switch instead.
	onSwitch func(toFull bool) error
}

const (
	pragmaSyncFull   = "PRAGMA synchronous = FULL"
	pragmaSyncNormal = "PRAGMA synchronous = NORMAL"
)

// syncFor makes the write connection commit with synchronous=NORMAL
// (normal) or FULL, when the Store has one connection for both
// (syncSwitch); otherwise it does nothing. The caller holds the write
// turn and has no transaction open on the connection. An error means the
// switch to FULL may not have happened: the caller must not commit.
func (s *Store) syncFor(ctx context.Context, normal bool) error {
	w := s.syncMode
	if w == nil || w.normal == normal {
		return nil
	}
	// The PRAGMA waits for nothing (no lock, no I/O): it runs to its end
	// whatever the caller's context, and database/sql then starts no
	// goroutine to watch that context.
	ctx = context.WithoutCancel(ctx)
	if normal {
		w.normal = true // before: whatever happens next, FULL is restored first
		if w.onSwitch != nil {
			if err := w.onSwitch(false); err != nil {
				return fmt.Errorf("sqlstore: synchronous=NORMAL: %w", err)
			}
		}
		if _, err := w.db.ExecContext(ctx, pragmaSyncNormal); err != nil {
			return fmt.Errorf("sqlstore: synchronous=NORMAL: %w", err)
		}
		return nil
	}
	if w.onSwitch != nil {
		if err := w.onSwitch(true); err != nil {
			return fmt.Errorf("sqlstore: synchronous=FULL: %w", err)
		}
	}
	if _, err := w.db.ExecContext(ctx, pragmaSyncFull); err != nil {
		return fmt.Errorf("sqlstore: synchronous=FULL: %w", err)
	}
	w.normal = false
	return nil
}
