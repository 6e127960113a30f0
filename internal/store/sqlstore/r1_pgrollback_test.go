package sqlstore

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// TestR1PGRolledBackUseIsKnownNowhere: a first use that replica A wrote
// in a transaction it then rolled back is known by no replica, whichever
// way replica B's use of the same URL met it (B's insert waits for A's
// transaction while it is open): B's use is the first one, B knows it
// once committed, and A, which never saw a committed row of its own,
// learns B's (its source address) from the database, not its own
// rolled-back one. The replay guard's memory only ever holds committed
// rows, so it can refuse a replay sooner but never accept one the
// database would refuse.
func TestR1PGRolledBackUseIsKnownNowhere(t *testing.T) {
	at := time.Date(2026, 12, 6, 23, 40, 0, 0, time.UTC)
	ctx := t.Context()
	dsn := pgtest.Start(t)
	a, b := openPG(t, dsn), openPG(t, dsn)
	watch, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close() })
	h := sha256.Sum256([]byte("r1 rolled back"))
	use := func(ip string) store.PresignUse {
		return store.PresignUse{SignatureHash: h[:], SourceIP: ip, FirstUsedAt: at, ExpiresAt: at.Add(time.Minute)}
	}
	const ipA, ipB = "198.51.100.1", "203.0.113.2"

	inserted, rollback := make(chan struct{}), make(chan struct{})
	errRollback := errors.New("rolled back by the test")
	txDone := make(chan error, 1)
	rolledBack := false
	defer func() { // a failed check still ends A's transaction
		if !rolledBack {
			close(rollback)
			<-txDone
		}
	}()
	go func() {
		txDone <- a.InTx(ctx, func(tx store.Repo) error {
			if _, isFirst, err := tx.RecordPresignUse(ctx, use(ipA)); err != nil || !isFirst {
				close(inserted)
				return errors.Join(err, errors.New("A's use in its transaction is not the first"))
			}
			close(inserted)
			<-rollback
			return errRollback
		})
	}()
	<-inserted
	type result struct {
		first   store.PresignUse
		isFirst bool
		err     error
	}
	bDone := make(chan result, 1)
	go func() {
		first, isFirst, err := b.RecordPresignUseUnsynced(ctx, use(ipB))
		bDone <- result{first, isFirst, err}
	}()
	// Let B's insert reach A's uncommitted row and wait for it (bounded:
	// B's answer is the same if it came after the rollback).
	blocked := false
	for range 500 {
		var waiting int
		if err := watch.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			blocked = true
			break
		}
	}
	t.Logf("B's insert seen waiting for A's transaction: %v", blocked)
	if a.KnowsPresignUse(h[:], at) || b.KnowsPresignUse(h[:], at) {
		t.Fatal("a use not yet committed is known")
	}
	close(rollback)
	rolledBack = true
	if err := <-txDone; !errors.Is(err, errRollback) {
		t.Fatalf("A's transaction: %v, want its rollback", err)
	}
	r := <-bDone
	if r.err != nil || !r.isFirst || r.first.SourceIP != ipB {
		t.Fatalf("B's use after A's rollback: %+v, isFirst %v, err %v; want B's own first use", r.first, r.isFirst, r.err)
	}
	if a.KnowsPresignUse(h[:], at) {
		t.Fatal("A knows a use: its own was rolled back and it never read B's")
	}
	if !b.KnowsPresignUse(h[:], at) {
		t.Fatal("B does not know its own committed first use")
	}
	first, isFirst, err := a.RecordPresignUseUnsynced(ctx, use(ipA))
	if err != nil || isFirst || first.SourceIP != ipB {
		t.Fatalf("A's use after: %+v, isFirst %v, err %v; want B's first use from the database", first, isFirst, err)
	}
	if !a.KnowsPresignUse(h[:], at) {
		t.Fatal("A does not know the use it read back")
	}
}
