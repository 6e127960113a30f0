package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache is a querier on a *sql.DB that prepares each distinct
// statement once and reuses it (database/sql re-prepares it per connection
// as needed). Preparing is about half the cost of a point read with
// SQLite, so the read path goes through one. The set of statements is
// fixed (queries.go), so the cache is bounded.
type stmtCache struct {
	db      *sql.DB
	mu      sync.RWMutex
	m       map[string]*sql.Stmt
	pending map[string]bool // being prepared in the background
	closed  bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement for query, or nil if it cannot be
// prepared (the caller then runs the query unprepared and gets the error).
// It prepares without holding mu: preparing waits for a free connection of
// the pool, and the connections may all be held by transactions whose next
// statement waits for mu (cached), which would never come back.
func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	st := c.m[query]
	n := len(c.m)
	c.mu.RUnlock()
	if st != nil {
		return st
	}
	if n >= maxCached {
		return nil // a full cache: the caller runs the query unprepared
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[query]; prev != nil || c.closed {
		// Another caller prepared it meanwhile (use that one), or the
		// cache was closed (nil: the caller runs the query unprepared).
		st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

// Close closes the prepared statements, not the database.
func (c *stmtCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// maxCached bounds the statements a cache holds: statements built at run
// time (IN lists of every length) must not grow it without end.
const maxCached = 512

// cached returns the prepared statement for query if the cache has it.
// Otherwise it prepares it in the background, on a connection of the pool
// that is free, and the caller runs query unprepared this time: a caller
// inside a transaction holds a connection, and waiting for another one
// could deadlock a pool that has no other.
func (c *stmtCache) cached(query string) *sql.Stmt {
	c.mu.RLock()
	st := c.m[query]
	n := len(c.m)
	c.mu.RUnlock()
	if st != nil || n >= maxCached {
		return st
	}
	c.mu.Lock()
	if c.pending == nil {
		c.pending = map[string]bool{}
	}
	if c.pending[query] || c.m[query] != nil {
		c.mu.Unlock()
		return nil
	}
	c.pending[query] = true
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), busyTimeout)
		defer cancel()
		st, err := c.db.PrepareContext(ctx, query)
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.pending, query)
		if err != nil || c.closed {
			if st != nil {
				st.Close()
			}
			return
		}
		c.m[query] = st
	}()
	return nil
}

// cachedTx is a transaction whose statements come from a cache of
// prepared statements (parsing SQL is a large part of a small write's
// cost with the pure-Go SQLite): each runs as tx.StmtContext of the
// cached statement, which database/sql prepares once per connection.
//
// A write transaction also remembers whether a statement failed because
// of a concurrent transaction (errRetry), so that writeTx runs it again
// even when the caller's fn turned that error into another one.
type cachedTx struct {
	*sql.Tx
	c *stmtCache
	// classify, when set, is the dialect's; retry records an errRetry.
	classify func(error) errClass
	retry    bool
	// retries counts the statements that failed with errRetry.
	retries int
	// changed records that a write that counts as a change (Changes) ran
	// in the transaction.
	changed bool
}

// retried reports whether a statement of the transaction failed because
// of a concurrent transaction (errRetry).
func (t *cachedTx) retried() bool { return t.retry }

// retryCount is how many statements failed with errRetry so far.
func (t *cachedTx) retryCount() int { return t.retries }

func (t *cachedTx) setRetried(r bool) { t.retry = r }

// closeRows: a sql.Tx's Rows share its connection and close as it ends.
func (t *cachedTx) closeRows() {}

// note records err if it is an errRetry, and returns it.
func (t *cachedTx) note(err error) error {
	if err != nil && t.classify != nil && t.classify(err) == errRetry {
		t.retry = true
		t.retries++
	}
	return err
}

func (t *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.c.cached(query); st != nil {
		res, err := t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		return res, t.note(err)
	}
	res, err := t.Tx.ExecContext(ctx, query, args...)
	return res, t.note(err)
}

func (t *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.c.cached(query); st != nil {
		rows, err := t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		return rows, t.note(err)
	}
	rows, err := t.Tx.QueryContext(ctx, query, args...)
	return rows, t.note(err)
}

func (t *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	var row *sql.Row
	if st := t.c.cached(query); st != nil {
		row = t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	} else {
		row = t.Tx.QueryRowContext(ctx, query, args...)
	}
	_ = t.note(row.Err()) // recorded; the caller gets the error from Scan
	return row
}

// plainTx is a write transaction that database/sql does not know of: its
// owner holds the turn of a pool of one connection (writeTurn, a pool
// only the turn's holders use) and ran BEGIN IMMEDIATE on it
// (plainWriteTx, groupcommit.go), so every statement run on the pool
// runs on that connection, inside that transaction. Its statements are
// the cache's prepared statements, which database/sql prepares once per
// connection and keeps across transactions (a sql.Tx runs each as a
// per-transaction copy, tx.StmtContext), and with a context that is never
// done (the group's) database/sql starts no goroutine for them: a sql.Tx
// starts one per transaction and one per query (its own context is
// cancellable). A write run in it must close its Rows before its next
// statement: the pool's one connection is the Rows' until then.
type plainTx struct {
	c *stmtCache
	// classify is the dialect's; retry records an errRetry.
	classify func(error) errClass
	retry    bool
	retries  int
	// rows are the Rows its queries returned: closeRows closes those a
	// write left open before COMMIT or ROLLBACK, which would otherwise
	// wait for the pool's one connection for ever (a sql.Tx closes them
	// as it ends).
	rows []*sql.Rows
}

// closeRows closes the Rows of the transaction's queries (a no-op for
// those already closed).
func (t *plainTx) closeRows() {
	for _, r := range t.rows {
		_ = r.Close()
	}
	t.rows = nil
}

func (t *plainTx) retried() bool { return t.retry }

func (t *plainTx) retryCount() int { return t.retries }

func (t *plainTx) setRetried(r bool) { t.retry = r }

func (t *plainTx) note(err error) error {
	if err != nil && t.classify != nil && t.classify(err) == errRetry {
		t.retry = true
		t.retries++
	}
	return err
}

func (t *plainTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.c.ExecContext(ctx, query, args...)
	return res, t.note(err)
}

func (t *plainTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := t.c.QueryContext(ctx, query, args...)
	if rows != nil {
		t.rows = append(t.rows, rows)
	}
	return rows, t.note(err)
}

func (t *plainTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	row := t.c.QueryRowContext(ctx, query, args...)
	_ = t.note(row.Err()) // recorded; the caller gets the error from Scan
	return row
}
