// Package sqlitetest opens the throwaway SQLite store of a test.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/postern/postern/internal/store/sqlstore"
)

// Open opens a new SQLite store in a temporary directory of t; it is
// closed when t ends.
func Open(t testing.TB) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "postern.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
