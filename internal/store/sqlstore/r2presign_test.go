package sqlstore

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// TestR2KnowsPresignUse: KnowsPresignUse says true exactly when
// RecordPresignUse would answer from memory: not before the first use is
// committed, nor for a use recorded inside a transaction (it may still be
// rolled back), nor at or after the record's ExpiresAt.
func TestR2KnowsPresignUse(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	out, in := sha256.Sum256([]byte("outside")), sha256.Sum256([]byte("inside"))
	use := func(h [32]byte) store.PresignUse {
		return store.PresignUse{SignatureHash: h[:], SourceIP: "198.51.100.7", FirstUsedAt: at, ExpiresAt: at.Add(time.Minute)}
	}
	if s.KnowsPresignUse(out[:], at) {
		t.Fatal("a URL never used is known")
	}
	if _, _, err := s.RecordPresignUse(ctx, use(out)); err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx store.Repo) error {
		_, _, err := tx.RecordPresignUse(ctx, use(in))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		hash [32]byte
		now  time.Time
		want bool
	}{
		{"committed, unexpired", out, at.Add(59 * time.Second), true},
		{"committed, at its expiry", out, at.Add(time.Minute), false},
		{"recorded inside a transaction", in, at, false},
	} {
		if got := s.KnowsPresignUse(c.hash[:], c.now); got != c.want {
			t.Errorf("%s: KnowsPresignUse %v, want %v", c.name, got, c.want)
		}
	}
}

// TestR2PresignCacheFullScanFrees: when the full cache's scan for expired
// entries frees little (one entry here), the cache is emptied: otherwise
// every later put of a first use scanned all presignCacheMax entries
// again under the lock (a steady 137+ new URLs a second, with the
// client's 60 s URLs, kept it full).
func TestR2PresignCacheFullScanFrees(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)
	var c presignCache
	put := func(i int, expires time.Time) {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'r'})
		c.put(store.PresignUse{SignatureHash: sum[:], ExpiresAt: expires}, at)
	}
	put(0, at.Add(time.Second)) // the one that expires
	for i := 1; i < presignCacheMax; i++ {
		put(i, at.Add(time.Hour))
	}
	at = at.Add(2 * time.Second)
	put(presignCacheMax, at.Add(time.Hour))
	if n := len(c.m); n > presignCacheMax*3/4 {
		t.Fatalf("%d entries after a put into the full cache freed one: the next put scans them all again", n)
	}
}
