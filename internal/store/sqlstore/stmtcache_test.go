package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestStmtCacheNoDeadlockOnFullPool is the deadlock CI once hit with
// eight concurrent CreateInstanceConnectEndpoint calls: a read outside a
// transaction prepared a new statement while holding the cache's lock,
// waiting for a pool connection, while every connection was held by a
// read transaction whose next statement waited for that lock. Here the
// pool has one connection, a transaction holds it, and another caller is
// already waiting in stmt for a connection; the transaction's next
// statement must still run, and after the commit the waiting caller gets
// its statement.
func TestStmtCacheNoDeadlockOnFullPool(t *testing.T) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "c.db"), nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	c := newStmtCache(db)
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	prepared := make(chan *sql.Stmt, 1)
	go func() { prepared <- c.stmt(ctx, "SELECT 1") }()
	// Wait until that caller is queued for the pool's only connection.
	for db.Stats().WaitCount == 0 {
		runtime.Gosched()
	}

	done := make(chan error, 1)
	go func() {
		ctxTx := &cachedTx{Tx: tx, c: c}
		var n int
		if err := ctxTx.QueryRowContext(ctx, "SELECT 2").Scan(&n); err != nil {
			done <- err
			return
		}
		done <- tx.Commit()
	}()
	// A deadlock never finishes; the bound only turns it into a failure
	// instead of a hung test binary.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		tx.Rollback() // frees the connection, so that the cleanup can run
		t.Fatal("the transaction's statement waited for the statement cache while stmt held it waiting for the transaction's connection")
	}
	if st := <-prepared; st == nil {
		t.Error("stmt returned no statement once the connection was free")
	}
}
