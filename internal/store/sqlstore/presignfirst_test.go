package sqlstore

import (
	"context"
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// TestPresignFirstUseIsTheStoredRecord: the record a first use returns
// (built from the use, not read back) is the record a replay reads back:
// times in UTC to the microsecond, the hash a copy the caller may reuse,
// on every path (synced, unsynced, inside a transaction), with SQLite and
// PostgreSQL.
func TestPresignFirstUseIsTheStoredRecord(t *testing.T) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := time.Date(2026, 12, 6, 15, 4, 5, 123456789, zone)
	type recordFn func(ctx context.Context, s *Store, u store.PresignUse) (store.PresignUse, bool, error)
	paths := []struct {
		name   string
		record recordFn
	}{
		{"synced", func(ctx context.Context, s *Store, u store.PresignUse) (store.PresignUse, bool, error) {
			return s.RecordPresignUse(ctx, u)
		}},
		{"unsynced", func(ctx context.Context, s *Store, u store.PresignUse) (store.PresignUse, bool, error) {
			return s.RecordPresignUseUnsynced(ctx, u)
		}},
		{"in a transaction", func(ctx context.Context, s *Store, u store.PresignUse) (first store.PresignUse, isFirst bool, err error) {
			err = s.InTx(ctx, func(tx store.Repo) error {
				first, isFirst, err = tx.RecordPresignUse(ctx, u)
				return err
			})
			return first, isFirst, err
		}},
	}
	stores := []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"sqlite", func(t *testing.T) *Store { s, _ := openTemp(t, defaultSQLiteOptions()); return s }},
		{"postgres", func(t *testing.T) *Store { return openPG(t, pgtest.Start(t)).s }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			for _, p := range paths {
				t.Run(p.name, func(t *testing.T) {
					ctx := context.Background()
					sum := sha256.Sum256([]byte(st.name + p.name))
					hash := sum[:]
					u := store.PresignUse{SignatureHash: hash, SourceIP: "198.51.100.7", FirstUsedAt: at,
						ExpiresAt: at.Add(5 * time.Minute)}
					first, isFirst, err := p.record(ctx, s, u)
					if err != nil || !isFirst {
						t.Fatalf("first use: isFirst %v, err %v", isFirst, err)
					}
					hash[0] ^= 0xff // the caller reuses its buffer
					replay := u
					replay.SignatureHash = append([]byte{}, hash...)
					replay.SignatureHash[0] ^= 0xff
					replay.SourceIP, replay.FirstUsedAt = "203.0.113.9", at.Add(time.Second)
					stored, isFirst, err := p.record(ctx, s, replay)
					if err != nil || isFirst {
						t.Fatalf("replay: isFirst %v, err %v", isFirst, err)
					}
					if !reflect.DeepEqual(first, stored) {
						t.Fatalf("first use returned %+v, the store holds %+v", first, stored)
					}
					if want := at.Truncate(time.Microsecond).UTC(); first.FirstUsedAt != want {
						t.Fatalf("FirstUsedAt %v, want %v", first.FirstUsedAt, want)
					}
				})
			}
		})
	}
}
