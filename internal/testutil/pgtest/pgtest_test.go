package pgtest

import (
	"database/sql"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestStartGivesFreshDatabases: each Start is a database of its own, on
// a server reached over its socket only.
func TestStartGivesFreshDatabases(t *testing.T) {
	a, b := open(t, Start(t)), open(t, Start(t))
	if _, err := a.ExecContext(t.Context(), "CREATE TABLE only_in_a (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("a table made in one test database is in the other")
	}
	var listen string
	if err := a.QueryRowContext(t.Context(), "SHOW listen_addresses").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	if listen != "" {
		t.Errorf("listen_addresses = %q, want none (socket only)", listen)
	}
}
