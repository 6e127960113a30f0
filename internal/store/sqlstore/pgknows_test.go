package sqlstore

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// presignKnower is the front door's question (frontdoor.presignMemory):
// a store that has it lets a replay it knows be refused before an agent
// dials.
type presignKnower interface {
	KnowsPresignUse(hash []byte, now time.Time) bool
}

// TestPGKnowsPresignUse: the PostgreSQL store, as the front door holds it
// (a *PostgresStore, not its inner *Store), answers the front door's
// question, so a replay it knows is refused before any agent dials, as on
// SQLite. Each of two replicas knows the uses it saw committed: its own
// first use, or another replica's once its own guard read it back (a miss
// asks the database); a use recorded in a transaction is not known (it
// may be rolled back), nor one at its expiry. Before, *PostgresStore did
// not have the method: the front door always took the goroutine path.
func TestPGKnowsPresignUse(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)
	ctx := t.Context()
	dsn := pgtest.Start(t)
	a, b := openPG(t, dsn), openPG(t, dsn)
	var ka, kb presignKnower
	var ok bool
	if ka, ok = store.Store(a).(presignKnower); !ok {
		t.Fatal("*PostgresStore does not tell whether it answers a presigned URL's replay guard from memory")
	}
	kb = store.Store(b).(presignKnower)
	out, in := sha256.Sum256([]byte("outside")), sha256.Sum256([]byte("inside"))
	use := func(h [32]byte, ip string) store.PresignUse {
		return store.PresignUse{SignatureHash: h[:], SourceIP: ip, FirstUsedAt: at, ExpiresAt: at.Add(time.Minute)}
	}
	if ka.KnowsPresignUse(out[:], at) {
		t.Fatal("a URL never used is known")
	}
	if _, isFirst, err := a.RecordPresignUseUnsynced(ctx, use(out, "198.51.100.7")); err != nil || !isFirst {
		t.Fatalf("first use on A: isFirst %v, err %v", isFirst, err)
	}
	if err := a.InTx(ctx, func(tx store.Repo) error {
		_, _, err := tx.RecordPresignUse(ctx, use(in, "198.51.100.7"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if kb.KnowsPresignUse(out[:], at) {
		t.Fatal("B knows a use it never read: a miss must ask the database")
	}
	first, isFirst, err := b.RecordPresignUse(ctx, use(out, "203.0.113.9"))
	if err != nil || isFirst || first.SourceIP != "198.51.100.7" {
		t.Fatalf("replay on B: first %+v, isFirst %v, err %v; want A's use", first, isFirst, err)
	}
	for _, c := range []struct {
		name string
		k    presignKnower
		hash [32]byte
		now  time.Time
		want bool
	}{
		{"A, its committed first use", ka, out, at.Add(59 * time.Second), true},
		{"B, A's use it read back", kb, out, at.Add(59 * time.Second), true},
		{"A, at the use's expiry", ka, out, at.Add(time.Minute), false},
		{"A, a use recorded inside a transaction", ka, in, at, false},
	} {
		if got := c.k.KnowsPresignUse(c.hash[:], c.now); got != c.want {
			t.Errorf("%s: KnowsPresignUse %v, want %v", c.name, got, c.want)
		}
	}
}
