package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// TestCacheCounter: store.CacheCounter over the real backends. SQLite
// (one process) gives its count to both kinds of cache; PostgreSQL
// (shared by replicas) gives its change-feed count only to caches that
// may lag another replica's commit by milliseconds, and nothing to those
// that must see a revocation on the next read.
func TestCacheCounter(t *testing.T) {
	lite, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "postern.db"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lite.Close() })
	tests := []struct {
		name     string
		open     func(t *testing.T) store.Store
		f        store.Freshness
		wantNone bool
	}{
		{"sqlite next read", func(*testing.T) store.Store { return lite }, store.NextRead, false},
		{"sqlite change feed", func(*testing.T) store.Store { return lite }, store.ChangeFeed, false},
		{"postgres next read", func(t *testing.T) store.Store { return openPG(t, pgtest.Start(t)) }, store.NextRead, true},
		{"postgres change feed", func(t *testing.T) store.Store { return openPG(t, pgtest.Start(t)) }, store.ChangeFeed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.open(t)
			cc := store.CacheCounter(st, tt.f)
			if tt.wantNone {
				if cc != nil {
					t.Fatalf("CacheCounter(%T, %v) = %T, want nil: this cache must read the store every time", st, tt.f, cc)
				}
				return
			}
			if cc == nil {
				t.Fatalf("CacheCounter(%T, %v) = nil, want the store's ChangeCounter", st, tt.f)
			}
			if cc != st.(store.ChangeCounter) {
				t.Fatalf("CacheCounter(%T, %v) is not the store's own ChangeCounter", st, tt.f)
			}
		})
	}
}
