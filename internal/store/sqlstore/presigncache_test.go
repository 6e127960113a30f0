package sqlstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// TestPresignReplayFromMemory: a URL whose first use this process saw
// committed is answered as a replay without the database (its row is
// removed behind the store's back here, so only the memory can answer),
// on the synced and unsynced paths, with the first use's record; the
// caller may scribble on the record it got.
func TestPresignReplayFromMemory(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 4, 5, 123456000, time.UTC)
	for _, c := range []struct {
		name   string
		record func(s *Store) func(context.Context, store.PresignUse) (store.PresignUse, bool, error)
	}{
		{"synced", func(s *Store) func(context.Context, store.PresignUse) (store.PresignUse, bool, error) {
			return s.RecordPresignUse
		}},
		{"unsynced", func(s *Store) func(context.Context, store.PresignUse) (store.PresignUse, bool, error) {
			return s.RecordPresignUseUnsynced
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := openTemp(t, defaultSQLiteOptions())
			record := c.record(s)
			sum := sha256.Sum256([]byte(c.name))
			u := store.PresignUse{SignatureHash: sum[:], SourceIP: "198.51.100.7", FirstUsedAt: at, ExpiresAt: at.Add(time.Minute)}
			first, isFirst, err := record(ctx, u)
			if err != nil || !isFirst {
				t.Fatalf("first use: isFirst %v, err %v", isFirst, err)
			}
			if _, err := s.writer.ExecContext(ctx, "DELETE FROM presign_uses"); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				again := u
				again.SourceIP, again.FirstUsedAt = "203.0.113.9", at.Add(30*time.Second)
				got, isFirst, err := record(ctx, again)
				if err != nil || isFirst {
					t.Fatalf("replay %d: isFirst %v, err %v: the replay was taken for a first use", i, isFirst, err)
				}
				if !reflect.DeepEqual(got, first) {
					t.Fatalf("replay %d: record %+v, want the first use's %+v", i, got, first)
				}
				got.SignatureHash[0] ^= 0xff // the caller's copy
				got.SourceIP = "scribbled"
			}
		})
	}
}

// TestPresignMemoryLimits: what the replay guard does not answer from
// memory, the database does: a use past its expiry, a use recorded in a
// transaction that rolled back, and uses the sweep removed.
func TestPresignMemoryLimits(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)
	use := func(name string, firstUsed time.Time) store.PresignUse {
		sum := sha256.Sum256([]byte(name))
		return store.PresignUse{SignatureHash: sum[:], SourceIP: "198.51.100.7", FirstUsedAt: firstUsed, ExpiresAt: at.Add(time.Minute)}
	}
	errRollback := errors.New("roll back")
	for _, c := range []struct {
		name string
		// setup records the use (or not) and may change the database;
		// then the use at the returned time must be a first use.
		setup func(t *testing.T, s *Store) store.PresignUse
	}{
		{"past its expiry", func(t *testing.T, s *Store) store.PresignUse {
			if _, isFirst, err := s.RecordPresignUseUnsynced(t.Context(), use("expiry", at)); err != nil || !isFirst {
				t.Fatalf("first use: %v, %v", isFirst, err)
			}
			if _, err := s.writer.ExecContext(t.Context(), "DELETE FROM presign_uses"); err != nil {
				t.Fatal(err)
			}
			return use("expiry", at.Add(time.Minute))
		}},
		{"rolled back", func(t *testing.T, s *Store) store.PresignUse {
			err := s.InTx(t.Context(), func(tx store.Repo) error {
				if _, isFirst, err := tx.RecordPresignUse(t.Context(), use("rollback", at)); err != nil || !isFirst {
					t.Fatalf("first use in a transaction: %v, %v", isFirst, err)
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			return use("rollback", at.Add(time.Second))
		}},
		{"swept", func(t *testing.T, s *Store) store.PresignUse {
			if _, isFirst, err := s.RecordPresignUse(t.Context(), use("swept", at)); err != nil || !isFirst {
				t.Fatalf("first use: %v, %v", isFirst, err)
			}
			if n, err := s.DeleteExpiredPresignUses(t.Context(), at.Add(2*time.Minute)); err != nil || n != 1 {
				t.Fatalf("sweep: %d, %v", n, err)
			}
			if n := len(s.presignUses.m); n != 0 {
				t.Fatalf("%d uses remembered after the sweep", n)
			}
			// Asked (as no server asks) before the expiry: the row is
			// gone, and so is the memory of it.
			return use("swept", at.Add(time.Second))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := openTemp(t, defaultSQLiteOptions())
			u := c.setup(t, s)
			if _, isFirst, err := s.RecordPresignUseUnsynced(t.Context(), u); err != nil || !isFirst {
				t.Fatalf("isFirst %v, err %v: want a first use, from the database", isFirst, err)
			}
		})
	}
}

// TestPresignCacheBound: the memory holds at most presignCacheMax uses,
// dropping expired ones first.
func TestPresignCacheBound(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)
	var c presignCache
	put := func(i int, expires time.Time) {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		c.put(store.PresignUse{SignatureHash: sum[:], ExpiresAt: expires}, at)
	}
	for i := range presignCacheMax - 1 {
		put(i, at.Add(time.Second)) // expire first
	}
	put(presignCacheMax, at.Add(time.Hour))
	if n := len(c.m); n != presignCacheMax {
		t.Fatalf("%d entries, want %d", n, presignCacheMax)
	}
	at = at.Add(2 * time.Second)
	put(presignCacheMax+1, at.Add(time.Hour))
	if n := len(c.m); n != 2 {
		t.Fatalf("%d entries after the expired were dropped, want 2", n)
	}
	if _, ok := c.get(make([]byte, 32), at); ok {
		t.Fatal("an unknown hash was found")
	}
}
